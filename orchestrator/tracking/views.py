"""Read-only views of a store: experiment names, a run's artifact, the UI."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient


def list_experiments(tracking_uri: str) -> list[str]:
    """Names of the store's experiments (MLflow's own ``Default`` left out)."""
    exps = MlflowClient(tracking_uri).search_experiments()
    return sorted(e.name for e in exps if e.name != "Default")


def launch_ui(tracking_uri: str, host: str = "127.0.0.1", port: int = 5000) -> int:
    """``mlflow ui`` on the configured store (blocks until interrupted)."""
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
