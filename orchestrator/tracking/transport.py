"""Calls to an MLflow store that survive its brief outages, and buffered writes.

A tracking server may be briefly unreachable after the command's check passed (a restart, a
network blip). MLflow's HTTP client already retries each request (connection errors,
408/429/5xx, every method; by default 7 retries with exponential backoff, about four minutes:
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``,
``MLFLOW_HTTP_REQUEST_TIMEOUT``). On top of it a ``Transport`` (1) retries what is still
transient for up to ``FAS_MLFLOW_RETRY_SECONDS`` (default 900, counted from the first request
that failed, i.e. after MLflow's own retries of it) with a warning, and (2) buffers metric and
tag writes in order on a writer thread, so trials keep running while the server is away.
Anything that must be ordered after them (artifacts, ending a run, reads) first waits for the
buffer to drain (``flush``); a run is only ended ``FINISHED`` once every write before it was
accepted. Re-sent metric batches carry their original timestamps, which the store deduplicates,
so a retry never doubles a step.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from mlflow.tracking import MlflowClient

from orchestrator.tracking.store import is_transient

RETRY_SECONDS_ENV = "FAS_MLFLOW_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 900.0

log = logging.getLogger(__name__)
T = TypeVar("T")


class Transport:
    """One store's calls, retried while the failure is transient, and its ordered write buffer
    (each buffered write is sent with ``client.log_batch``)."""

    def __init__(self, client: MlflowClient, uri: str) -> None:
        self.client, self.uri = client, uri
        self._pending: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        self._lock = threading.Lock()

    def call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        on_retry: Callable[[], T | None] | None = None,
        **kwargs: Any,
    ) -> T:
        """``fn(*args, **kwargs)``, retried with backoff while the failure is transient.

        ``on_retry`` runs before each retry; a non-None value is taken as the result (it finds
        what an earlier attempt may have done before its answer was lost)."""
        budget = float(os.environ.get(RETRY_SECONDS_ENV, DEFAULT_RETRY_SECONDS))
        start: float | None = None
        attempt = 0
        while True:
            try:
                if start is not None and on_retry is not None:
                    found = on_retry()
                    if found is not None:
                        return found
                out = fn(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                start = time.monotonic() if start is None else start
                waited = time.monotonic() - start
                if waited >= budget:
                    log.error(
                        f"MLflow at {self.uri} unreachable for {waited:.0f}s ({what}); giving up"
                    )
                    raise
                reason = str(exc).splitlines()[0][:300]
                log.warning(
                    f"MLflow at {self.uri} unreachable ({what}, {waited:.0f}s so far; retrying for "
                    f"up to {budget:.0f}s, {self._pending.qsize()} writes buffered): {reason}"
                )
                time.sleep(min(10.0, 0.5 * 2**attempt, budget - waited))
                attempt += 1
                continue
            if start is not None:
                waited = time.monotonic() - start
                log.warning(f"MLflow at {self.uri} reachable again after {waited:.1f}s ({what})")
            return out

    def enqueue(self, run_id: str, batch: dict[str, Any]) -> None:
        """Buffer one write in order; a writer thread sends it (retrying while MLflow is away)."""
        self._raise_writer_error()
        with self._lock:
            self._pending.put((run_id, batch))
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="mlflow-writer", daemon=True
                )
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            try:
                run_id, batch = self._pending.get(timeout=2.0)
            except queue.Empty:
                with self._lock:  # exit only if nothing was queued meanwhile
                    if self._pending.empty():
                        self._writer = None
                        return
                continue
            try:
                if self._writer_error is None:
                    self.call("log_batch", self.client.log_batch, run_id, **batch)
            except BaseException as exc:  # noqa: BLE001 - surfaced by the next flush()
                self._writer_error = exc
            finally:
                self._pending.task_done()

    def _raise_writer_error(self) -> None:
        if self._writer_error is not None:
            raise RuntimeError(
                f"MLflow writes to {self.uri} failed; the buffered metrics were not stored"
            ) from self._writer_error

    def flush(self) -> None:
        """Wait until every buffered write reached MLflow (raises if one could not)."""
        self._pending.join()
        self._raise_writer_error()
