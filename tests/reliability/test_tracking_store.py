"""The tracking store as the commands meet it (real MLflow: SQLite under tmp_path, a real
``mlflow server``): an unreachable server fails fast in one line, read-only commands never write,
a spec longer than MLflow's param limit is kept in full, an experiment without runs has a status.

The stores are filled through ``Tracker`` directly (no trials run)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.experiments import resolve_experiment
from orchestrator.report import latest_spec
from orchestrator.tracking.runs import MAX_PARAM, SPEC_ARTIFACT, Tracker

REPO = Path(__file__).resolve().parents[2]
BOUND = 30.0  # a safety bound on a failing command, not a pace: the check itself takes seconds
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_uri() -> Iterator[str]:
    """A server that accepts TCP connections and never answers (the kernel completes the
    handshakes; nobody reads)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def _long_spec() -> dict:
    """A real spec whose JSON is longer than MLflow's 6,000-character param limit."""
    spec = resolve_experiment("ablation_cdc_theta", "smoke")
    note = "Swept on the smoke preset with the default CDCN settings. " * 150
    return dataclasses.replace(spec, description=note).to_dict()


def _scores(seed: int, n_subjects: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {
            "video_id": f"{split}{s}_{v}",
            "score": float(rng.normal(1.0 if v < 2 else -1.0)),
            "label": int(v < 2),
            "pai": "live" if v < 2 else "print",
            "split": split,
            "subject": f"{split}{s}",
        }
        for split in ("dev", "test")
        for s in range(n_subjects)
        for v in range(4)
    ]
    return pd.DataFrame(rows)


def _fill(uri: str, tmp: Path) -> dict:
    """Experiment ``exp`` (a parent run with a long spec, four finished trials with scores, one
    failed), ``old`` (a parent written before spec.json: the spec only as a param) and ``empty``
    (no runs). Returns the long spec."""
    spec = _long_spec()
    tracker = Tracker(uri, "exp")
    parent = tracker.start_parent("sweep", {"preset": "smoke"}, {"n_trials": 5}, spec)
    for i, (theta, seed) in enumerate([(0.0, 0), (0.0, 1), (0.7, 0), (0.7, 1), (0.7, 2)]):
        tags = {"run_key": f"k{i}", "preset": "smoke", "workload": "train_eval"}
        child = tracker.start_child(parent, f"t{i}", tags, {"theta": theta, "seed": seed})
        if i == 4:
            tracker.set_tags(child, {"error": "diverged"})
            tracker.end(child, "FAILED")
            continue
        out = tmp / f"trial{i}"
        out.mkdir()
        _scores(i).to_parquet(out / "scores.parquet", index=False)
        tracker.log_metrics(child, {"test_apcer": 0.1 * i, "test_bpcer": 0.05, "test_acer": 0.2}, 0)
        tracker.log_artifacts(child, out)
        tracker.end(child, "FINISHED")
    tracker.end(parent, "FINISHED")
    old = Tracker(uri, "old")
    short = {"protocol": "oulu_npu_p1", "grid": {"theta": [0.0]}, "report": "ablation"}
    old_parent = old.start_parent("sweep", {}, {"spec": json.dumps({**short, "preset": "quick"})})
    old_child = old.start_child(old_parent, "t", {"run_key": "o", "preset": "quick"}, {"theta": 0})
    old.log_metrics(old_child, {"test_apcer": 0.3, "test_bpcer": 0.1, "test_acer": 0.2}, 0)
    old.end(old_child, "FINISHED")
    old.end(old_parent, "FINISHED")
    Tracker(uri, "empty")
    return spec


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, Path, dict]:
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return uri, root, _fill(uri, tmp_path_factory.mktemp("files"))


def _cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """The real entry point in its own process: its exit code, stdout and stderr as a user sees
    them (log handlers and tracebacks included)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, time.monotonic() - start


RUN = ["run", "ablation_cdc_theta", "--preset", "smoke"]
COMMANDS = {"run": RUN, "status": ["status"], "report": ["report", "--tables"]}


def _assert_one_line_error(output: str, uri: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and uri in lines[0] and "MLFLOW_TRACKING_URI" in lines[0]
    assert "Traceback" not in output


@pytest.mark.parametrize("command", COMMANDS)
def test_closed_port_fails_fast_in_one_line(command: str, tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    proc, elapsed = _cli(*COMMANDS[command], "--tracking-uri", uri, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert elapsed < BOUND
    assert proc.stdout == ""
    _assert_one_line_error(proc.stderr, uri)
    assert "unreachable" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started: no store, no data, no reports


@pytest.mark.parametrize("command", COMMANDS)
def test_silent_server_fails_fast_in_one_line(
    command: str, silent_uri: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAS_MLFLOW_CHECK_SECONDS", "2")
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    out = runner.invoke(app, [*COMMANDS[command], "--tracking-uri", silent_uri])
    elapsed = time.monotonic() - start
    assert out.exit_code == 2, out.output
    assert elapsed < BOUND
    _assert_one_line_error(out.output, silent_uri)
    assert "no answer within 2s" in out.output
    assert os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES") is None  # the check's env undone


@pytest.mark.parametrize("command", ["status", "report"])
def test_read_only_commands_create_no_store(command: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    db = tmp_path / "mlrnus" / "mlflow.db"  # a typo
    out = runner.invoke(app, [*COMMANDS[command], "--tracking-uri", f"sqlite:///{db}"])
    assert out.exit_code == 2, out.output
    _assert_one_line_error(out.output, f"sqlite:///{db}")
    assert f"no MLflow store at {db}" in out.output
    out = runner.invoke(app, COMMANDS[command])  # the default store, never created by a reader
    assert out.exit_code == 2 and "no MLflow store at" in out.output, out.output
    assert list(tmp_path.iterdir()) == []
    other = tmp_path / "notes.db"  # an existing file that is no MLflow store stays untouched
    other.write_bytes(b"")
    out = runner.invoke(app, [*COMMANDS[command], "--tracking-uri", f"sqlite:///{other}"])
    assert out.exit_code == 2 and f"no MLflow store at {other}" in out.output, out.output
    assert other.read_bytes() == b"" and list(tmp_path.iterdir()) == [other]


def test_a_server_that_is_not_mlflow_is_named(tmp_path: Path) -> None:
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        do_POST = do_GET

        def log_message(self, *args) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        out = runner.invoke(app, ["status", "--tracking-uri", uri])
        server.shutdown()
    assert out.exit_code == 2, out.output
    _assert_one_line_error(out.output, uri)
    assert "does not answer as a tracking server" in out.output and "404" in out.output


def _dump(uri: str, root: Path) -> dict:
    """Everything a command could have written: experiments, runs (info, params, metric
    histories, tags), artifact listings, and every file of the store (the database included)."""
    client = MlflowClient(uri)
    dump: dict = {}
    for exp in client.search_experiments(view_type=ViewType.ALL):
        dump[f"exp:{exp.name}"] = (exp.lifecycle_stage, sorted(exp.tags.items()))
        for run in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL):
            info = run.info
            artifacts, todo = [], [""]
            while todo:
                for a in client.list_artifacts(info.run_id, todo.pop() or None):
                    (todo.append(a.path) if a.is_dir else artifacts.append((a.path, a.file_size)))
            history = {
                k: [
                    (m.step, m.timestamp, m.value)
                    for m in client.get_metric_history(info.run_id, k)
                ]
                for k in run.data.metrics
            }
            dump[f"run:{info.run_id}"] = (
                info.status,
                info.end_time,
                info.lifecycle_stage,
                sorted(run.data.params.items()),
                sorted(run.data.tags.items()),
                history,
                sorted(artifacts),
            )
    for path in sorted(root.rglob("*")):
        if path.is_file():
            dump[f"file:{path.relative_to(root)}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return dump


def test_status_and_report_write_nothing_to_the_store(store, tmp_path: Path, monkeypatch) -> None:
    uri, root, _ = store
    monkeypatch.chdir(tmp_path)
    for lock in root.glob(".*.lock"):  # a writer's schema lock: readers need none
        lock.unlink()
    before = _dump(uri, root)
    out = runner.invoke(app, ["status", "--tracking-uri", uri])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["report", "--tables", "--out", "out", "--tracking-uri", uri])
    assert out.exit_code == 0, out.output
    assert "exp: oulu_npu_p1, smoke preset" in out.output and "theta" in out.output
    assert _dump(uri, root) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out" / "exp.md").is_file() and (tmp_path / "out" / "old.md").is_file()


def test_long_spec_round_trips(store, tmp_path: Path) -> None:
    uri, _, spec = store
    text = json.dumps(spec, sort_keys=True)
    assert len(text) > MAX_PARAM
    tracker = Tracker(uri, "exp", create=False)
    parents = tracker.parent_runs()
    (run_id,) = parents["run_id"]
    assert tracker.spec(run_id) == spec
    assert latest_spec(parents, tracker.spec) == spec
    local = MlflowClient(uri).download_artifacts(run_id, SPEC_ARTIFACT, str(tmp_path))
    assert Path(local).read_text() == text  # in full
    assert "params.spec" not in parents  # the spec is an artifact, not a one-cell param
    assert latest_spec(parents) is None  # nothing to read without the artifact
    old = Tracker(uri, "old", create=False)  # written before spec.json: the param still reads
    assert old.spec(old.parent_runs().loc[0, "run_id"]) is None
    assert latest_spec(old.parent_runs(), old.spec)["preset"] == "quick"


def test_run_publishes_its_summary_from_the_full_spec(store) -> None:
    """Only ``run`` writes the summary (``publish_summary``), and a long spec does not stop it.
    (It adds the summary to the shared store: the other tests compare only within themselves.)"""
    from rich.console import Console

    from orchestrator.runner import publish_summary

    uri, _, _ = store
    tracker = Tracker(uri, "exp", create=False)
    parent = str(tracker.parent_runs().loc[0, "run_id"])
    console = Console(file=io.StringIO())
    publish_summary(tracker, parent, "exp", console)
    assert console.file.getvalue() == ""  # no warning
    names = {a.path for a in MlflowClient(uri).list_artifacts(parent, "summary")}
    assert {"summary/table.md", "summary/statistics.json"} <= names


def test_status_counts_and_runless_experiments(store, monkeypatch) -> None:
    uri, _, _ = store
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    out = runner.invoke(app, ["status", "--tracking-uri", uri])
    assert out.exit_code == 0, out.output
    assert "Downloading" not in out.output  # reading spec.json shows no progress bar
    rows = {line.split("│")[1].strip(): line for line in out.output.splitlines() if "│" in line}
    cells = [c.strip() for c in rows["exp"].split("│")[1:-1]]
    assert cells == ["exp", "smoke", "5", "4", "0", "1", "0"]
    assert [c.strip() for c in rows["old"].split("│")[1:-1]][:4] == ["old", "quick", "0", "1"]
    assert [c.strip() for c in rows["empty"].split("│")[1:-1]] == ["empty", "?", *"00000"]
    assert "empty: no runs yet" in out.output
    out = runner.invoke(app, ["status", "empty", "--tracking-uri", uri])
    assert out.exit_code == 0 and "empty: no runs yet" in out.output, out.output


def test_through_a_real_server(tmp_path: Path) -> None:
    """The check passes on a real ``mlflow server``; ``status`` on its empty store says so; the
    long spec goes through its proxied artifacts and ``status`` reads it back over HTTP."""
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--workers", "1"]
    cmd += ["--artifacts-destination", str(tmp_path / "artifacts")]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server not healthy after 120s"
                time.sleep(0.2)
        out = runner.invoke(app, ["status", "--tracking-uri", uri])  # a store without experiments
        assert out.exit_code == 2 and f"no experiments in MLflow at {uri}" in out.output, out.output
        spec = _long_spec()
        tracker = Tracker(uri, "exp")
        parent = tracker.start_parent("sweep", {"preset": "smoke"}, {"n_trials": 3}, spec)
        assert tracker.spec(parent) == spec
        out = runner.invoke(app, ["status", "--tracking-uri", uri])
        assert out.exit_code == 0, out.output
        assert "smoke" in out.output and "│ 3 " in out.output
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its workers
        server.wait(timeout=30)
