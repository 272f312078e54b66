"""A multi-node Ray cluster on one machine, MLflow behind a real ``mlflow server``.

The cluster (``ray.cluster_utils.Cluster``) has a CPU-only head and two worker nodes with one fake
GPU each: Ray only accounts for the GPUs, torch stays on the CPU. Smoke sweeps ask for one GPU
per trial, so trials can only land on the workers. The tests then take a worker away mid-sweep
and take the tracking server away mid-sweep; every trial must still end FINISHED in MLflow with
its per-epoch history complete and no step twice.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner, Result

from orchestrator.cli import app
from orchestrator.trials import GATE_ENV
from tests import sweeps
from tests.mlflow_server import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENT = "ablation_cdc_theta"
PARENT = "mlflow.parentRunId"


@dataclass
class Stack:
    server: MlflowServer
    cluster: object  # ray.cluster_utils.Cluster
    head_id: str
    #: The trial gate every node's trials see (open: ``go`` exists; a test closes it to pace).
    gate: Path
    removed: list[str] = field(default_factory=list)

    def gpu_node_ids(self) -> set[str]:
        return {n.node_id for n in self.cluster.worker_nodes}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def stack(smoke_root: Path, tmp_path_factory) -> Iterator[Stack]:
    """A real tracking server and a 3-node Ray cluster (head: 1 CPU; 2 workers: 1 CPU, 1 GPU).

    The session's local Ray (``local_ray``), if earlier tests started it, is shut down for the
    module and started again afterwards, so later tests find it as they left it."""
    import ray
    from ray.cluster_utils import Cluster

    server = MlflowServer(tmp_path_factory.mktemp("mlflow_server"))
    server.launch()  # its first start (database creation) overlaps the cluster's
    had_local_ray = ray.is_initialized()
    ray.shutdown()
    gate = tmp_path_factory.mktemp("gate")
    sweeps.release(gate)  # open unless a test closes it
    os.environ[GATE_ENV] = str(gate)  # the nodes' processes inherit it
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False},
    )
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, num_gpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
        server.wait_ready()
        yield Stack(server, cluster, cluster.head_node.node_id, gate)
    finally:
        os.environ.pop(GATE_ENV, None)
        ray.shutdown()
        cluster.shutdown()
        server.stop()
        if had_local_ray:  # as tests/conftest.py's local_ray started it
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)


def _run_args(stack: Stack, *sets: str, storage: Path | None = None) -> list[str]:
    args = ["run", EXPERIMENT, "--preset", "smoke", "--tracking-uri", stack.server.uri]
    args += ["--address", stack.cluster.address]  # type: ignore[attr-defined]
    for s in ("resources.gpu=1", "resources.cpu=1", *sets):
        args += ["--set", s]
    if storage is not None:
        args += ["--storage-path", str(storage)]
    return args


def _parent_ids(client: MlflowClient) -> set[str]:
    """Every run of the experiment so far (a sweep's parent may be reused: its trials are new)."""
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return set()
    return {r.info.run_id for r in client.search_runs([exp.experiment_id], max_results=1000)}


def _sweep(client: MlflowClient, before: set[str]):
    """The parent run of the child runs started since ``before`` and those children (None, []
    if not there yet)."""
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return None, []
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    children = [r for r in runs if PARENT in r.data.tags and r.info.run_id not in before]
    if not children:
        return None, []
    parent_ids = {c.data.tags[PARENT] for c in children}
    assert len(parent_ids) == 1
    return client.get_run(parent_ids.pop()), children


def _node_of(client: MlflowClient, child, tmp: Path) -> str:
    """The Ray node a trial ran on (its ``result.json`` artifact says; the UI shows no node)."""
    path = client.download_artifacts(child.info.run_id, "result.json", str(tmp))
    return json.loads(Path(path).read_text())["info"]["node_id"]


def _in_background(args: list[str]) -> tuple[threading.Thread, dict[str, Result]]:
    """``orchestrate ARGS`` in a thread: the main thread must stay free to add Ray nodes
    (a node installs signal handlers, which only the main thread may)."""
    out: dict[str, Result] = {}

    def target() -> None:
        out["result"] = CliRunner().invoke(app, args)

    thread = threading.Thread(target=target, name="orchestrate-run", daemon=True)
    thread.start()
    return thread, out


def _wait_for(what: str, cond: Callable[[], bool], thread: threading.Thread, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if not thread.is_alive():
            pytest.fail(f"the sweep ended before {what}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _running_with_epochs(client: MlflowClient, before: set[str]) -> list:
    _, children = _sweep(client, before)
    return [
        c
        for c in children
        if c.info.status == "RUNNING" and client.get_metric_history(c.info.run_id, "train_loss")
    ]


def _assert_complete(client: MlflowClient, children: list, n: int, epochs: int) -> None:
    """n trials, one child run per run key, all FINISHED, every epoch logged exactly once."""
    assert len(children) == n
    assert len({c.data.tags["run_key"] for c in children}) == n
    for child in children:
        assert child.info.status == "FINISHED", child.data.tags.get("error")
        for metric in ("train_loss", "dev_eer"):
            steps = [m.step for m in client.get_metric_history(child.info.run_id, metric)]
            assert sorted(steps) == list(range(1, epochs + 1)), (metric, steps)
        assert 0.0 <= child.data.metrics["test_acer"] <= 1.0


def test_gpu_trials_land_on_gpu_nodes_and_artifacts_go_through_the_server(
    stack: Stack, tmp_path: Path
) -> None:
    client = MlflowClient(stack.server.uri)
    before = _parent_ids(client)
    result = CliRunner().invoke(app, _run_args(stack, "grid.theta=[0.0,0.7]"))
    assert result.exit_code == 0, result.output
    assert "2 finished, 0 failed" in result.output

    parent, children = _sweep(client, before)
    assert parent is not None and parent.info.status == "FINISHED"
    _assert_complete(client, children, n=2, epochs=1)
    nodes = {_node_of(client, c, tmp_path) for c in children}
    assert stack.head_id not in nodes
    assert nodes <= stack.gpu_node_ids(), (nodes, stack.gpu_node_ids())

    # Artifacts are proxied: the client only talks HTTP, the server stores the files.
    for child in children:
        assert child.info.artifact_uri.startswith("mlflow-artifacts:")
        path = client.download_artifacts(child.info.run_id, "scores.parquet", str(tmp_path))
        scores = pd.read_parquet(path)
        assert {"score", "label", "pai", "split"} <= set(scores.columns)
        assert set(scores.split) == {"dev", "test"}
        Path(path).unlink()
    stored = list((stack.server.root / "artifacts").rglob("scores.parquet"))
    assert len(stored) == 2


def test_worker_node_dies_mid_trial_and_the_trial_is_retried_elsewhere(
    stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="orchestrator")
    client = MlflowClient(stack.server.uri)
    before = _parent_ids(client)
    storage = tmp_path / "ray_results"
    epochs = 4
    thetas = "grid.theta=[0.1,0.2,0.3,0.4]"
    sweeps.close(stack.gate)  # every trial waits after its first checkpointed epoch
    thread, out = _in_background(_run_args(stack, thetas, f"epochs={epochs}", storage=storage))

    # Each worker has one GPU and each trial takes one: two trials at their first gate means both
    # workers are mid-trial (epoch 1 checkpointed), whichever one goes.
    try:
        _wait_for("two trials mid-run", lambda: len(sweeps.reached(stack.gate)) == 2, thread, 600)
        victim = sorted(stack.cluster.worker_nodes, key=lambda n: n.node_id)[0]  # type: ignore[attr-defined]
        stack.cluster.remove_node(victim)  # type: ignore[attr-defined]
        stack.removed.append(victim.node_id)
        stack.cluster.add_node(num_cpus=1, num_gpus=1)  # type: ignore[attr-defined]
    finally:
        sweeps.release(stack.gate)
    thread.join(timeout=600)
    assert not thread.is_alive(), "the sweep did not finish after the node died"
    result = out["result"]
    assert result.exit_code == 0, result.output
    assert f"{4} finished, 0 failed" in result.output

    parent, children = _sweep(client, before)
    assert parent is not None and parent.info.status == "FINISHED"
    # The retry continues from the lost attempt's last epoch checkpoint; each epoch is logged once.
    _assert_complete(client, children, n=4, epochs=epochs)
    nodes = {_node_of(client, c, tmp_path) for c in children}
    assert victim.node_id not in nodes and stack.head_id not in nodes
    assert nodes <= stack.gpu_node_ids()

    # Tune recorded exactly one lost attempt, of one trial, and retried it.
    errors = list(storage.rglob("error.txt"))
    assert len(errors) == 1, errors
    assert "Failure # 1" in errors[0].read_text()
    retried_key = errors[0].parent.name
    assert retried_key in {c.data.tags["run_key"] for c in children}
    lost = [r.getMessage() for r in caplog.records if "Tune retries it" in r.getMessage()]
    assert len(lost) == 1 and "node has died" in lost[0], lost
    (retried,) = [c for c in children if c.data.tags["run_key"] == retried_key]
    resumed_from = int(retried.data.tags.get("resumed_from_epoch", "0"))
    assert resumed_from == 1, retried.data.tags  # it died at its first gate
    print(
        f"node {victim.node_id[:8]} removed; trial {retried_key} resumed after epoch {resumed_from}"
    )


def test_tracking_server_outage_loses_no_metric(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # MLflow's own per-request retries (7, ~4 min) would hide a short outage; without them the
    # orchestrator's retry-and-buffer layer is what carries the sweep through.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("FAS_MLFLOW_RETRY_SECONDS", "180")
    caplog.set_level(logging.WARNING, logger="orchestrator")
    client = MlflowClient(stack.server.uri)
    before = _parent_ids(client)
    epochs = 4
    sweeps.close(stack.gate)  # trials wait after each checkpointed epoch until released
    thread, out = _in_background(
        _run_args(stack, "grid.theta=[0.5,0.6,0.8,0.9]", f"epochs={epochs}")
    )
    try:
        _wait_for(
            "two trials' first epoch", lambda: len(sweeps.reached(stack.gate)) == 2, thread, 600
        )
        held = sweeps.reached(stack.gate)
        down = time.time()
        stack.server.stop()
        for key, epoch in held:  # their second epochs are reported while the server is away
            sweeps.release(stack.gate, key, epoch)
        _wait_for(
            "the driver to find the server away",
            lambda: any("unreachable" in r.getMessage() for r in caplog.records),
            thread,
            600,
        )
        stack.server.launch()
        stack.server.wait_ready()
        up = time.time()
    finally:
        sweeps.release(stack.gate)
        if stack.server.proc is None or stack.server.proc.poll() is not None:
            stack.server.launch()
            stack.server.wait_ready()
    thread.join(timeout=600)
    assert not thread.is_alive(), "the sweep did not finish after the server came back"
    result = out["result"]
    assert result.exit_code == 0, result.output
    assert "4 finished, 0 failed" in result.output

    parent, children = _sweep(client, before)
    assert parent is not None and parent.info.status == "FINISHED"
    _assert_complete(client, children, n=4, epochs=epochs)
    # Epochs reported while the server was away were buffered, not lost.
    stamps = [
        m.timestamp / 1000
        for c in children
        for m in client.get_metric_history(c.info.run_id, "train_loss")
    ]
    assert any(down < t < up for t in stamps), (down, up, sorted(stamps))
    messages = [r.getMessage() for r in caplog.records]
    assert any("unreachable" in m for m in messages)
    assert any("reachable again" in m for m in messages)


def test_tracker_retries_transient_failures_without_duplicates(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two retry paths the outage test may or may not hit, forced: a create whose answer
    is lost after the run was made, and buffered metric writes failing a few times."""
    import requests
    from mlflow.exceptions import MlflowException

    from orchestrator.tracking.runs import CREATE_TOKEN_TAG, Tracker

    monkeypatch.setenv("FAS_MLFLOW_RETRY_SECONDS", "30")
    tracker = Tracker(stack.server.uri, "tracker_retries")
    real_create, real_log = tracker.client.create_run, tracker.client.log_batch
    calls = {"create": 0, "log": 0}

    def create_then_lose_answer(*args, **kwargs):
        calls["create"] += 1
        run = real_create(*args, **kwargs)
        if calls["create"] == 1:
            try:
                raise requests.ConnectionError("connection reset by peer")
            except requests.ConnectionError as exc:
                raise MlflowException(f"API request failed with exception {exc}") from None
        return run

    def log_failing_twice(*args, **kwargs):
        calls["log"] += 1
        if calls["log"] <= 2:
            raise requests.ConnectionError("connection refused")
        return real_log(*args, **kwargs)

    monkeypatch.setattr(tracker.client, "create_run", create_then_lose_answer)
    monkeypatch.setattr(tracker.client, "log_batch", log_failing_twice)
    parent = tracker.start_parent("p", {}, {})
    runs = tracker.client.search_runs([tracker.experiment_id])
    assert [r.info.run_id for r in runs] == [parent] and calls["create"] == 1
    assert CREATE_TOKEN_TAG not in runs[0].data.tags  # found again by its token, then removed

    for step in (1, 2, 3):
        tracker.log_metrics(parent, {"loss": 1.0 / step}, step=step)
    tracker.end(parent)
    history = tracker.client.get_metric_history(parent, "loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert tracker.client.get_run(parent).info.status == "FINISHED"

    def invalid(*args, **kwargs):
        raise MlflowException("invalid metric name")  # not transient: raised at once

    monkeypatch.setattr(tracker.client, "set_terminated", invalid)
    start = time.monotonic()
    with pytest.raises(MlflowException, match="invalid metric name"):
        tracker.end(parent)
    assert time.monotonic() - start < 1.0


def _train_checkpoint_epoch(storage: Path) -> float:
    """The epoch of the latest checkpoint a Train run under ``storage`` has registered."""
    best = 0.0
    for snap in storage.glob("*/checkpoint_manager_snapshot.json"):
        try:
            latest = json.loads(snap.read_text()).get("latest_checkpoint_result") or {}
        except ValueError:  # being written
            continue
        best = max(best, float(latest.get("metrics", {}).get("epoch", 0.0)))
    return best


def _train_worker_nodes() -> set[str]:
    """The nodes running a live Ray Train worker (Ray's actor table, kept by the GCS)."""
    from ray._private.state import actors

    return {
        a["Address"]["NodeID"]
        for a in actors().values()
        if a["ActorClassName"] == "RayTrainWorker" and a["State"] == "ALIVE"
    }


def test_data_parallel_trial_resumes_from_its_last_epoch_after_losing_a_node(
    stack: Stack, tmp_path: Path
) -> None:
    """Two Ray Train CPU workers (gloo: the fake GPUs have no NCCL), on 3 one-CPU nodes. The
    trial's workers wait at the trial gate after epoch 1 until its Train run has registered
    epoch 1's checkpoint; then a node with one of its workers goes. Tune retries the trial, its
    Train run restarts from that checkpoint, and the child run holds each epoch once."""
    epochs, hold = 2, 1
    spec = tmp_path / "dp_resume.yaml"
    spec.write_text(sweeps.data_parallel_spec("dp_resume_check", epochs, retries=2))
    sweeps.close(stack.gate)
    storage = tmp_path / "ray_results"
    client = MlflowClient(stack.server.uri)
    args = ["run", str(spec), "--tracking-uri", stack.server.uri, "--storage-path", str(storage)]
    args += ["--address", stack.cluster.address]  # type: ignore[attr-defined]
    thread, out = _in_background(args)
    try:
        _wait_for(
            "epoch 1's Train checkpoint",
            lambda: _train_checkpoint_epoch(storage) >= hold,
            thread,
            timeout=240,
        )
        hosts = _train_worker_nodes()
        nodes = stack.cluster.worker_nodes  # type: ignore[attr-defined]
        victim = sorted((n for n in nodes if n.node_id in hosts), key=lambda n: n.node_id)[0]
        stack.cluster.remove_node(victim)  # type: ignore[attr-defined]
        stack.removed.append(victim.node_id)
        stack.cluster.add_node(num_cpus=1, num_gpus=1)  # type: ignore[attr-defined]
    finally:
        sweeps.release(stack.gate)  # the survivor may go on (into a collective with a lost peer)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the sweep did not finish after the node died"
    result = out["result"]
    assert result.exit_code == 0, result.output
    assert "1 finished, 0 failed" in result.output

    exp = client.get_experiment_by_name("dp_resume_check")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    children = [r for r in runs if PARENT in r.data.tags]
    assert len(children) == 1
    child = children[0]
    assert child.info.status == "FINISHED", child.data.tags.get("error")
    for metric in ("train_loss", "dev_eer"):
        steps = [m.step for m in client.get_metric_history(child.info.run_id, metric)]
        assert sorted(steps) == list(range(1, epochs + 1)), (metric, steps)  # each epoch once
    # the retry continued after the held epoch: nothing before it was trained again
    assert child.data.tags.get("resumed_from_epoch") == str(hold), child.data.tags
    errors = list(storage.rglob("error.txt"))
    assert len(errors) == 1 and "Failure # 1" in errors[0].read_text(), errors
