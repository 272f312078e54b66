"""Read-only views of a store: genotype pictures, experiment names, a run's artifact, the UI."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.tracking.presentation import landing_url
from orchestrator.tracking.runs import Tracker


def genotype_figures(tracker: Tracker, out: Path, workload: str) -> list[Path]:
    """The genotype pictures of the finished trials of ``workload`` (the experiment's own, not
    its random samples'), one PNG per trial that drew one, into ``out``."""
    children = tracker.child_runs()
    if children.empty or "tags.workload" not in children:
        return []
    done = children[(children["status"] == "FINISHED") & (children["tags.workload"] == workload)]
    paths = []
    for row in done.to_dict("records"):
        run_id = row["run_id"]
        label = str(row.get("tags.mlflow.runName") or run_id)
        names = {a.path for a in tracker.client.list_artifacts(run_id)}
        if "genotype.png" not in names:
            continue
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tracker.client.download_artifacts(run_id, "genotype.png", tmp))
            dst = out / f"{label.replace('/', '_')}.png"
            dst.write_bytes(src.read_bytes())
        paths.append(dst)
    return paths


def list_experiments(tracking_uri: str) -> list[str]:
    """Names of the store's experiments (MLflow's own ``Default`` left out)."""
    exps = MlflowClient(tracking_uri).search_experiments()
    return sorted(e.name for e in exps if e.name != "Default")


def landing_urls(tracking_uri: str, base: str) -> dict[str, str]:
    """Each experiment's results view in the UI at ``base`` (``presentation.landing_url``)."""
    exps = MlflowClient(tracking_uri).search_experiments()
    return {e.name: landing_url(base, e.experiment_id) for e in exps if e.name != "Default"}


def launch_ui(tracking_uri: str, host: str = "127.0.0.1", port: int = 5000) -> int:
    """``mlflow ui`` on the configured store (blocks until interrupted), after printing each
    experiment's results view: the UI opens an experiment on its training runs there."""
    for name, url in landing_urls(tracking_uri, f"http://{host}:{port}").items():
        print(f"{name}: {url}", file=sys.stderr)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri]
    cmd += ["--host", host, "--port", str(port)]
    return subprocess.call(cmd)


def run_artifact_text(tracking_uri: str, run_id: str, path: str) -> str:
    """The text of one artifact of any run (e.g. a search's ``genotype.json``), or a clear error."""
    client = MlflowClient(tracking_uri)
    try:
        client.get_run(run_id)
    except MlflowException as exc:
        raise FileNotFoundError(f"MLflow run {run_id!r} not found in {tracking_uri}") from exc
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
        except (MlflowException, OSError) as exc:
            raise FileNotFoundError(
                f"MLflow run {run_id} has no artifact {path!r} (is it a search run?)"
            ) from exc
        return Path(local).read_text()
