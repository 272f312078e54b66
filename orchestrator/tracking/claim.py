"""One driver per experiment and tracking store: the claim ``DriverLock``, held in the store."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping

from mlflow.exceptions import MlflowException

from orchestrator.tracking.runs import Tracker
from orchestrator.tracking.store import TrackingStoreError

log = logging.getLogger(__name__)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


class DriverBusy(RuntimeError):
    """Another live driver runs this experiment on this tracking store."""


def _died_here(holder: Mapping[str, str]) -> bool:
    """The holder ran on this host and its process is gone (no need to wait for its heartbeat
    to go stale). A reused pid only delays the takeover until the heartbeat is stale."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder.get("pid", "")), 0)
    except ProcessLookupError:
        return True
    except (ValueError, OSError):
        return False
    return False


class DriverLock:
    """One driver per experiment and tracking store, claimed in the store itself.

    The claim is a registered model named ``<experiment>.driver``: the store creates a name at
    most once (SQL unique key, or the server's RESOURCE_ALREADY_EXISTS), so of two drivers
    started together exactly one gets it, on SQLite and on a tracking server alike. Its tags say
    who holds it (host, pid, start) and a heartbeat the holder renews every
    ``stale_seconds / 4``; it is deleted when the driver ends. A claim whose heartbeat is older
    than ``stale_seconds`` (``FAS_DRIVER_STALE_SECONDS``, default 120), or whose process is gone
    from this host, belongs to a driver that died: the next driver takes it over with a warning.
    Liveness is decided by the heartbeat and the process, never by a run's status. Only the
    holder deletes or adopts unfinished child runs, so no driver deletes a live driver's runs.
    Tune's experiment folders are named by a hash that includes the tracking store, so drivers
    on different stores never share one.
    """

    def __init__(self, tracker: Tracker, stale_seconds: float | None = None) -> None:
        self.tracker, self.name = tracker, f"{tracker.experiment_name}.driver"
        env = os.environ.get("FAS_DRIVER_STALE_SECONDS", "120")
        self.stale = float(stale_seconds if stale_seconds is not None else env)
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _holder(self) -> dict[str, str] | None:
        try:
            return dict(self.tracker.client.get_registered_model(self.name).tags)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _create(self) -> bool:
        now = time.time()
        tags = {
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now)),
            "heartbeat": f"{now:.3f}",
            "token": self.token,
        }
        what = f"the driver lock of experiment {self.tracker.experiment_name!r} (orchestrator)"
        try:
            self.tracker.client.create_registered_model(self.name, tags=tags, description=what)
            return True
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_ALREADY_EXISTS":
                return False
            # the driver's first write: a store it cannot write fails here, before any work
            raise TrackingStoreError(
                f"the MLflow store at {self.tracker.uri} refused a write "
                f"({_first_line(exc)}); check that it is writable"
            ) from exc

    def acquire(self) -> None:
        """Claim the experiment, or raise ``DriverBusy`` naming the live driver that holds it."""
        while not self._create():
            holder = self._holder()
            if holder is None:
                continue  # released between our create and our read: try again
            age = time.time() - float(holder.get("heartbeat", 0) or 0)
            who = (
                f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
            )
            if age <= self.stale and not _died_here(holder):
                raise DriverBusy(
                    f"experiment {self.tracker.experiment_name!r} is being run by another driver "
                    f"({who}, last heartbeat {age:.0f}s ago) on {self.tracker.uri}; wait for it "
                    f"to end (or stop it) and run the same command again"
                )
            log.warning(
                f"taking over from a driver that died ({who}; last heartbeat {age:.0f}s ago)"
            )
            try:
                self.tracker.client.delete_registered_model(self.name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        self._beat = threading.Thread(target=self._heartbeat, name="driver-heartbeat", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.stale / 4):
            try:
                holder = self._holder()
                if holder is None or holder.get("token") != self.token:
                    log.error(f"{self.name}: this driver's claim was taken over by another driver")
                    return
                self.tracker.client.set_registered_model_tag(
                    self.name, "heartbeat", f"{time.time():.3f}"
                )
            except Exception as exc:  # noqa: BLE001 - a missed beat; the next one may pass
                log.warning(f"{self.name}: heartbeat not written: {exc}")

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5.0)  # a beat stuck on an unreachable server is abandoned
        try:
            holder = self._holder()
            if holder is not None and holder.get("token") == self.token:
                self.tracker.client.delete_registered_model(self.name)
        except Exception as exc:  # noqa: BLE001 - a stale claim is taken over later anyway
            log.warning(f"{self.name}: claim not released ({exc}); it expires with its heartbeat")

    def __enter__(self) -> DriverLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
