"""The cluster path as the README's "Rehearse on one machine" writes it.

Two real ``ray start`` nodes on this machine (a head with the dashboard and job server, and a
second node joining it), both with token authentication (``RAY_AUTH_MODE=token``, a token file
of this test's own); a smoke sweep submitted with ``ray job submit`` whose entrypoint is
``orchestrate run --address auto``; the job's status from the job API; the results in MLflow
(SQLite), one trial on each node. Then the connection check against the same cluster without
the token, with a wrong token and with another Ray version: one line each, no traceback
(tests/orchestrator/test_connect.py has the cases that need no cluster).

Every Ray process this test starts lives in the process group of the ``ray start`` that started
it, under a temp dir of its own; teardown ends those groups by id (never ``ray stop``, which
would stop every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.sweeps import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RAY = str(Path(sys.executable).with_name("ray"))
EXPERIMENT = "ablation_cdc_theta"
PARENT = "mlflow.parentRunId"
#: A bound on each wait (a deadline, not a pace).
PATIENCE = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Nodes:
    gcs: str  # HOST:PORT, what `ray start --address` and `orchestrate run --address` take
    dashboard: str  # http://127.0.0.1:PORT, what `ray job submit --address` takes
    token: str
    env: dict[str, str]  # a shell of this cluster: RAY_AUTH_MODE=token, the token file
    root: Path


def _launch(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``ray start ARGS`` in a new process group (its id is the process's)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [RAY, "start", *args, "--disable-usage-stats"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _started(proc: subprocess.Popen, log: Path) -> None:
    """Wait for ``ray start`` to say its node is up (it exits 0 then, leaving the node)."""
    try:
        code = proc.wait(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        code = None
    if code != 0:
        pytest.fail(f"{shlex.join(proc.args)} failed ({code}):\n{log.read_text()[-3000:]}")


def _listening(proc: subprocess.Popen, port: int, log: Path) -> None:
    """Wait until the head's GCS accepts connections (a deadline, not a pace)."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and proc.poll() in (None, 0):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    _started(proc, log)
    pytest.fail(f"the head's GCS never listened on {port}:\n{log.read_text()[-3000:]}")


def _stop(groups: list[int]) -> None:
    """End the process groups this test started: SIGTERM, then SIGKILL after a deadline (the
    GCS may take a while over SIGTERM; nothing of this cluster is kept)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(_alive(g) for g in groups):
            time.sleep(0.2)
        if not any(_alive(g) for g in groups):
            return


def _alive(group: int) -> bool:
    """Whether a process of ``group`` still runs (a zombie waiting for its reaper does not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


@pytest.fixture(scope="module")
def nodes(smoke_root: Path, tmp_path_factory) -> Iterator[Nodes]:
    root = tmp_path_factory.mktemp("ray_start")
    # Short temp dirs: Ray's socket paths under them must fit in 107 characters.
    temp = Path(tempfile.mkdtemp(prefix="ray"))
    token = secrets.token_hex(32)
    (root / "token").write_text(token)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env |= {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(root / "token"),
        "PYTHONPATH": str(REPO),  # every node's workers import this tree
        "FAS_RAY_LOG_TO_DRIVER": "0",
    }
    port, dashboard = _free_port(), _free_port()
    head = ["--head", "--port", str(port), "--num-cpus", "1", "--temp-dir", str(temp / "h")]
    head += ["--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard)]
    head += ["--dashboard-agent-listen-port", str(_free_port())]
    head += ["--ray-client-server-port", str(_free_port())]
    worker = ["--address", f"127.0.0.1:{port}", "--num-cpus", "1", "--temp-dir", str(temp / "w")]
    worker += ["--dashboard-agent-listen-port", str(_free_port())]
    groups: list[int] = []
    try:
        started = time.monotonic()
        first = _launch(head, env, root / "head.log")
        groups.append(first.pid)
        # The worker joins as soon as the GCS listens, while the head's dashboard starts.
        _listening(first, port, root / "head.log")
        second = _launch(worker, env, root / "worker.log")
        groups.append(second.pid)
        _started(first, root / "head.log")
        _started(second, root / "worker.log")
        print(f"two ray start nodes up in {time.monotonic() - started:.1f} s")
        yield Nodes(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard}", token, env, root)
    finally:
        _stop(groups)
        shutil.rmtree(temp, ignore_errors=True)


def _node_of(client: MlflowClient, run, where: Path) -> str:
    """The Ray node a trial ran on (its ``node_id`` tag, else its ``result.json``)."""
    if "node_id" in run.data.tags:
        return run.data.tags["node_id"]
    path = client.download_artifacts(run.info.run_id, "result.json", str(where))
    return json.loads(Path(path).read_text())["info"]["node_id"]


def test_job_submitted_to_a_token_auth_cluster_runs_trials_on_both_nodes(
    nodes: Nodes, tmp_path: Path
) -> None:
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobStatus, JobSubmissionClient

    uri = f"sqlite:///{nodes.root / 'mlflow.db'}"
    entrypoint = [sys.executable, "-m", "orchestrator.cli", "run", EXPERIMENT]
    entrypoint += ["--preset", "smoke", "--set", "grid.theta=[0.0,0.7]", "--address", "auto"]
    entrypoint += ["--tracking-uri", uri, "--storage-path", str(nodes.root / "ray_results")]
    job_id = f"fas-smoke-{secrets.token_hex(4)}"
    # As the README submits: the CLI waits for the job and tails its log.
    submit = [RAY, "job", "submit", "--address", nodes.dashboard, "--submission-id", job_id]
    submit += ["--", *entrypoint]  # the CLI quotes each word
    done = subprocess.run(
        submit, env=nodes.env, capture_output=True, text=True, timeout=PATIENCE, cwd=REPO
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    # The job API says the same, asked with the cluster's token (and refuses without it).
    with pytest.raises(AuthenticationError):
        JobSubmissionClient(nodes.dashboard, headers={"Authorization": "Bearer " + "x" * 64})
    jobs = JobSubmissionClient(nodes.dashboard, headers={"Authorization": f"Bearer {nodes.token}"})
    assert jobs.get_job_status(job_id) == JobStatus.SUCCEEDED
    logs = jobs.get_job_logs(job_id)
    assert "done: 2 finished, 0 failed" in logs, logs[-3000:]

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if PARENT not in r.data.tags]
    children = [r for r in runs if PARENT in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 2
    for child in children:
        assert child.info.status == "FINISHED", child.data.tags.get("error")
        assert 0.0 <= child.data.metrics["test_acer"] <= 1.0
    # One CPU per node and per trial: the two trials ran side by side, one on each node.
    assert len({_node_of(client, c, tmp_path) for c in children}) == 2


def _run_cli(address: str, env: dict[str, str]) -> subprocess.Popen:
    args = [sys.executable, "-m", "orchestrator.cli", "run", EXPERIMENT, "--preset", "smoke"]
    args += ["--address", address, "--tracking-uri", "sqlite:///never-created.db"]
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )


#: The connection check alone, in a process of its own: prints ``joined`` or exits with the
#: one line (``sys.argv[2]``, if given, is the Ray version this process claims to have).
CHECK = """
import sys, ray
if len(sys.argv) > 2:
    ray.__version__ = sys.argv[2]
from orchestrator.backend.connect import ClusterError, check_cluster
try:
    check_cluster(sys.argv[1])
except ClusterError as exc:
    sys.exit(str(exc))
print("joined")
"""


def _check(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHECK, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _refused(proc: subprocess.Popen, code: int = 1) -> str:
    """The one line a refused check printed (exit ``code``, nothing else on stderr)."""
    out, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == code, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_run_address_says_in_one_line_what_is_wrong(nodes: Nodes, tmp_path: Path) -> None:
    """Each case in a process of its own (Ray keeps its token and auth mode per process), all
    started at once. Through the CLI: no token at all; through the check alone: a wrong token,
    another Ray version, and this machine's token without RAY_AUTH_MODE (which joins)."""
    home = tmp_path / "home"  # a machine without ~/.ray/auth_token
    home.mkdir()
    bare = {k: v for k, v in nodes.env.items() if not k.startswith("RAY_AUTH")}
    no_token = _run_cli(nodes.gcs, {**bare, "HOME": str(home)})
    wrong = _check({**bare, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "x" * 64}, nodes.gcs)
    other_version = _check(nodes.env, nodes.gcs, "2.0.0")
    local = _check({**bare, "RAY_AUTH_TOKEN_PATH": nodes.env["RAY_AUTH_TOKEN_PATH"]}, nodes.gcs)

    line = _refused(no_token, code=2)
    assert line.startswith(f"error: Ray cluster at {nodes.gcs}"), line
    assert "requires token authentication: export RAY_AUTH_MODE=token" in line, line
    line = _refused(wrong)
    assert "rejected this machine's token (from the RAY_AUTH_TOKEN variable)" in line, line
    line = _refused(other_version)
    assert f"runs Ray {version('ray')} on Python" in line, line
    assert "this process Ray 2.0.0" in line and "install the same versions" in line, line
    out, err = local.communicate(timeout=PATIENCE)
    assert local.returncode == 0 and out.strip() == "joined", out + err
