"""``mlflow server`` for tests: a real tracking server (and the UI) on a free local port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """``mlflow server`` in its own process group, restartable on the same port and database."""

    def __init__(self, root: Path, db: Path | None = None) -> None:
        """A server on ``db`` (default ``root/mlflow.db``), its log and artifacts in ``root``."""
        self.root = root
        self.db = db or root / "mlflow.db"
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def launch(self) -> None:
        cmd = [sys.executable, "-m", "mlflow", "server"]
        cmd += ["--backend-store-uri", f"sqlite:///{self.db}"]
        cmd += ["--artifacts-destination", str(self.root / "artifacts")]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        # The server's background job runner (a dozen huey consumers) is not needed here.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with open(self.root / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"mlflow server exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"mlflow server not healthy after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def log_tail(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-3000:]
