"""Read-only views of a store: experiment names, a run's artifact, the UI."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.tracking.presentation import landing_url


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
