"""The cluster path as the README's "Rehearse on one machine" writes it.

Two real ``ray start`` nodes on this machine (a head with the dashboard and job server, and a
second node joining it), both with token authentication (``RAY_AUTH_MODE=token``, a token file
of this test's own); a smoke sweep submitted with ``ray job submit`` whose entrypoint is
``orchestrate run --address auto``; the job's status from the job API; the results in MLflow
(SQLite), one trial on each node. Then ``orchestrate run --address`` against the same cluster
without the token, with a wrong token, with another Ray version, and on a closed port: one line
each, exit code 2, no traceback.

Every Ray process this test starts lives in the process group of the ``ray start`` that started
it, under a temp dir of its own; teardown ends those groups by id (never ``ray stop``, which
would stop every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import secrets
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


def _start(args: list[str], env: dict[str, str], log: Path) -> int:
    """``ray start ARGS`` in a new process group; returns the group id once the node is up."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [RAY, "start", *args, "--disable-usage-stats"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        code = proc.wait(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        code = None
    if code != 0:
        _stop([proc.pid])
        pytest.fail(f"ray start {' '.join(args)} failed ({code}):\n{log.read_text()[-3000:]}")
    return proc.pid


def _stop(groups: list[int]) -> None:
    """End the process groups this test started: SIGTERM, then SIGKILL after a deadline (the
    GCS may take a while over SIGTERM; nothing of this cluster is kept)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
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
    groups: list[int] = []
    try:
        head = ["--head", "--port", str(port), "--num-cpus", "1", "--temp-dir", str(temp / "h")]
        head += ["--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard)]
        head += ["--dashboard-agent-listen-port", str(_free_port())]
        head += ["--ray-client-server-port", str(_free_port())]
        t0 = time.monotonic()
        groups.append(_start(head, env, root / "head.log"))
        print("TIMING head", time.monotonic() - t0)
        worker = ["--address", f"127.0.0.1:{port}", "--num-cpus", "1"]
        worker += [
            "--temp-dir",
            str(temp / "w"),
            "--dashboard-agent-listen-port",
            str(_free_port()),
        ]
        groups.append(_start(worker, env, root / "worker.log"))
        print("TIMING worker", time.monotonic() - t0)
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


def _one_line_error(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 2, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_run_address_says_in_one_line_what_is_wrong(nodes: Nodes, tmp_path: Path) -> None:
    """Each check in a process of its own (Ray keeps its token and auth mode per process),
    all started at once."""
    home = tmp_path / "home"  # a machine without ~/.ray/auth_token
    home.mkdir()
    bare = {k: v for k, v in nodes.env.items() if not k.startswith("RAY_AUTH")}
    no_token = _run_cli(nodes.gcs, {**bare, "HOME": str(home)})
    wrong = _run_cli(nodes.gcs, {**bare, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "x" * 64})
    closed = _run_cli(f"127.0.0.1:{_free_port()}", bare)
    # Another Ray version here than on the cluster (the cluster's own is asked for real).
    other_version = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, ray; ray.__version__ = '2.0.0'; "
            "from orchestrator.backend.connect import ClusterError, check_cluster\n"
            "try: check_cluster(sys.argv[1])\n"
            "except ClusterError as exc: sys.exit(str(exc))",
            nodes.gcs,
        ],
        env=nodes.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # This machine's token, without RAY_AUTH_MODE: a local cluster gets it, as Ray's `auto`.
    local_token = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from orchestrator.backend.connect import check_cluster; "
            "check_cluster(sys.argv[1]); print('joined')",
            nodes.gcs,
        ],
        env={**bare, "RAY_AUTH_TOKEN_PATH": nodes.env["RAY_AUTH_TOKEN_PATH"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    line = _one_line_error(no_token)
    assert "requires token authentication: export RAY_AUTH_MODE=token" in line, line
    line = _one_line_error(wrong)
    assert "rejected this machine's token (from the RAY_AUTH_TOKEN variable)" in line, line
    line = _one_line_error(closed)
    assert "is unreachable: Connection refused" in line, line

    out, err = other_version.communicate(timeout=PATIENCE)
    assert other_version.returncode == 1, out + err
    assert f"runs Ray {version('ray')} on Python" in err, err
    assert "this process Ray 2.0.0" in err and "install the same versions" in err, err
    out, err = local_token.communicate(timeout=PATIENCE)
    assert local_token.returncode == 0 and out.strip() == "joined", out + err
