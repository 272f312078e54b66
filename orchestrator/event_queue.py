"""Trial events handed to a writer thread, in order, so Tune's event loop never waits for MLflow.

Tune calls its callbacks (``backend.events.Bridge``) on the driver's event loop: while a callback
runs, no trial is started and no result is processed. Creating a trial's run, logging its final
metrics and copying its artifacts are several store round trips (SQLite or an HTTP server); done
there, they left a slot idle between one trial and the next. ``QueuedEvents`` takes each event,
copies what is only valid during the call (the artifact folder, which Tune may delete or which
a remote storage downloaded for the call), and returns; one thread delivers the events to the
sink in the order they came, so the sink sees exactly the calls it saw before and MLflow
receives exactly the same runs, params, metrics, tags and artifacts. ``drain()`` waits until
every event was delivered and raises the first error the sink raised (as does the next event
after it: Tune then stops the sweep, as when the sink raised in the callback itself).
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.jobs import Job


class QueuedEvents:
    """``TrialEvents`` delivered to ``sink`` on a writer thread, in order (see the module)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self._calls: queue.Queue[tuple[Callable[[], None], Path | None] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._deliver, name="trial-events", daemon=True)
        self._thread.start()
        if hasattr(sink, "retried"):
            self.retried = self._retried

    def started(self, job: Job, resumed: bool = False) -> None:
        self._put(lambda: self.sink.started(job, resumed))

    def epoch(self, job: Job, metrics: dict[str, float]) -> None:
        metrics = dict(metrics)
        self._put(lambda: self.sink.epoch(job, metrics))

    def finished(self, job: Job, metrics: dict[str, float], artifact_dir: Path) -> None:
        copy = Path(tempfile.mkdtemp(prefix="trial-artifacts-"))
        shutil.copytree(artifact_dir, copy, dirs_exist_ok=True)
        metrics = dict(metrics)
        self._put(lambda: self.sink.finished(job, metrics, copy), cleanup=copy)

    def failed(self, job: Job, error: str) -> None:
        self._put(lambda: self.sink.failed(job, error))

    def _retried(self, job: Job, error: str, attempt: int) -> None:
        self._put(lambda: self.sink.retried(job, error, attempt))

    def drain(self) -> None:
        """Wait until every event was delivered; raise the first error the sink raised."""
        self._calls.join()
        self._raise()

    def close(self) -> None:
        """Deliver what is queued, then end the writer thread (errors: see ``drain``)."""
        self._calls.put(None)
        self._thread.join()
        self._raise()

    def _put(self, call: Callable[[], None], cleanup: Path | None = None) -> None:
        self._raise()
        self._calls.put((call, cleanup))

    def _raise(self) -> None:
        if self._error is not None:
            raise RuntimeError("recording trial events failed") from self._error

    def _deliver(self) -> None:
        while True:
            item = self._calls.get()
            try:
                if item is None:
                    return
                call, cleanup = item
                try:
                    if self._error is None:  # after a failure nothing more is delivered
                        call()
                except BaseException as exc:  # noqa: BLE001 - raised by drain() and the next event
                    self._error = exc
                finally:
                    if cleanup is not None:
                        shutil.rmtree(cleanup, ignore_errors=True)
            finally:
                self._calls.task_done()
