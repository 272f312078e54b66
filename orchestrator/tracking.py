"""MLflow, the only module that imports it: the driver is the single writer of the store.

Layout (DESIGN.md): one MLflow experiment per orchestrator experiment, one parent run per
invocation, one nested child run per trial, tagged with its run key so a re-run finds what is done.
A parent run keeps its full spec as the artifact ``spec.json``; its ``spec`` param is a convenience
for the runs view, cut (and marked so) at MLflow's 6,000-character limit.

Every command checks its store before anything else (``resolve_tracking_uri``): a tracking server
gets one cheap request with MLflow's own retries off and a short timeout
(``FAS_MLFLOW_CHECK_SECONDS``, default 5), so an unreachable server ends a command in seconds
with one line naming the URI; a read-only command (``status``, ``report``) on a SQLite or local
path that does not exist (or holds no MLflow store) stops there instead of creating one.

A tracking server may be briefly unreachable later (a restart, a network blip); what follows covers
only outages after that check passed. MLflow's HTTP client already retries each request (connection
errors, 408/429/5xx, every method; by default 7 retries with exponential backoff, about four
minutes: ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``,
``MLFLOW_HTTP_REQUEST_TIMEOUT``). On top of it the tracker (1) retries what is still transient for
up to ``FAS_MLFLOW_RETRY_SECONDS`` (default 900, counted from the first request that failed, i.e.
after MLflow's own retries of it) with a warning, and (2) buffers metric and tag writes in order on
a writer thread, so trials keep running while the server is away. Anything that must be ordered
after them (artifacts, ending a run, reads) first waits for the buffer to drain; a run is only
ended ``FINISHED`` once every write before it was accepted. Re-sent metric batches carry their
original timestamps, which the store deduplicates, so a retry never doubles a step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import requests

try:
    import fcntl
except ImportError:  # not on Windows: concurrent drivers there are not supported
    fcntl = None  # type: ignore[assignment]
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

PARENT_TAG = "mlflow.parentRunId"
MAX_BATCH = 900
#: A one-off tag that makes run creation idempotent when a create request is retried.
CREATE_TOKEN_TAG = "orchestrator.create_token"
RETRY_SECONDS_ENV = "FAS_MLFLOW_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 900.0
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)
_TRANSIENT_ERRORS += (requests.exceptions.RetryError, requests.exceptions.ChunkedEncodingError)
CHECK_SECONDS_ENV = "FAS_MLFLOW_CHECK_SECONDS"
DEFAULT_CHECK_SECONDS = 5
#: The full spec of a sweep, an artifact of its parent run (the ``spec`` param may be cut).
SPEC_ARTIFACT = "spec.json"
MAX_PARAM = 6000  # MLflow's limit on a param value
CUT_MARK = f" ...[cut at {MAX_PARAM} characters; the full spec is the artifact {SPEC_ARTIFACT}]"

log = logging.getLogger(__name__)


class _RaisedAnyway(logging.Filter):
    """MLflow's SQL store logs a database error with its whole traceback and then raises it;
    the orchestrator reports what it raises (one line), so the log record is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SQLAlchemy database error")


logging.getLogger("mlflow.store.db.utils").addFilter(_RaisedAnyway())
T = TypeVar("T")


class TrackingStoreError(RuntimeError):
    """The store cannot be used; the message is one line naming the URI and what to check."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors behind it: MLflow wraps connection errors in an
    ``MlflowException`` without ``from``, so the original is on the context chain."""
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def is_transient(exc: BaseException) -> bool:
    """A failure worth retrying: the server unreachable or answering 408/429/5xx."""
    for err in _chain(exc):
        if isinstance(err, _TRANSIENT_ERRORS):
            return True
        if isinstance(err, requests.HTTPError) and err.response is not None:
            return err.response.status_code in _TRANSIENT_STATUS
        if isinstance(err, RestException) or (
            # a non-JSON error page, e.g. a proxy's 502 while the server restarts
            isinstance(err, MlflowException) and "failed with error code" in err.message
        ):
            return err.get_http_status_code() in _TRANSIENT_STATUS
    return False


def default_tracking_uri(cwd: Path | None = None) -> str:
    """``sqlite:///mlruns/mlflow.db`` under the working directory (absolute, so workers agree)."""
    db = (cwd or Path.cwd()) / "mlruns" / "mlflow.db"
    return f"sqlite:///{db}"


def resolve_tracking_uri(uri: str | None, read_only: bool = False) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else the local SQLite store; checked
    before any command uses it (``TrackingStoreError``): a server must answer within seconds, and a
    read-only command never creates a store where none is."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    local, db = _local_path(uri), _sqlite_path(uri)
    if read_only and local is not None and not (local.exists() and _is_store(db)):
        raise TrackingStoreError(
            f"no MLflow store at {local} (from {uri}); check --tracking-uri or "
            "MLFLOW_TRACKING_URI, or run an experiment first"
        )
    if not read_only and db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    return uri


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_server(uri: str) -> None:
    """One cheap request (an experiment search) with MLflow's per-request retries off and a
    ``FAS_MLFLOW_CHECK_SECONDS`` timeout: a dead server fails in seconds, not after minutes."""
    seconds = int(os.environ.get(CHECK_SECONDS_ENV, DEFAULT_CHECK_SECONDS))
    try:
        quick = {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(seconds),
        }
        with _environ(**quick):
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        text = " ".join(str(e) for e in _chain(exc))
        errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
        first = (str(exc) or type(exc).__name__).splitlines()[0].split(". Response body")[0][:200]
        if "timed out" in text.lower():
            why = f"no answer within {seconds}s"
        elif errno or is_transient(exc):
            why = errno.group(1).strip() if errno else first
        else:
            raise TrackingStoreError(
                f"MLflow at {uri} does not answer as a tracking server ({first}); check "
                "--tracking-uri or MLFLOW_TRACKING_URI and the server's credentials"
            ) from None
        raise TrackingStoreError(
            f"MLflow tracking server at {uri} is unreachable ({why}); check that it is running "
            "and reachable from here, and --tracking-uri or MLFLOW_TRACKING_URI"
        ) from None


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URI (``sqlite:////abs`` is absolute)."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


@contextlib.contextmanager
def _schema_lock(uri: str):
    """Hold a lock beside a SQLite store while its schema may be created or migrated: two
    drivers opening a new store at once would otherwise race in MLflow's migrations."""
    db = _sqlite_path(uri)
    if db is None or fcntl is None:
        yield
        return
    with open(db.parent / f".{db.name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_store(db: Path | None) -> bool:
    """Whether a SQLite file holds MLflow's tables (MLflow would create them in any other file);
    opened read-only. Not a SQLite URI: True."""
    if db is None:
        return True
    read_only = f"{db.resolve().as_uri()}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(read_only, uri=True)) as con:
            query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'"
            return con.execute(query).fetchone() is not None
    except sqlite3.Error:
        return False


def _local_path(uri: str) -> Path | None:
    """The file or folder a local URI names (SQLite, ``file:``, a bare path), else None."""
    if uri.startswith("sqlite:"):
        return _sqlite_path(uri)
    if uri.startswith("file:"):
        return Path(uri[len("file:") :].removeprefix("//"))
    return None if ":" in uri or uri.startswith("databricks") else Path(uri)


class Tracker:
    """Writes and reads one orchestrator experiment's runs."""

    def __init__(self, tracking_uri: str, experiment: str, create: bool = True) -> None:
        self.uri = tracking_uri
        self.experiment_name = experiment
        self._pending: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        self._lock = threading.Lock()
        # The first client of a new SQLite store creates it; a reader opens an existing one.
        with _schema_lock(tracking_uri) if create else contextlib.nullcontext():
            self.client = MlflowClient(tracking_uri)
            found = self._call(
                "get_experiment_by_name", self.client.get_experiment_by_name, experiment
            )
        if found is None and create:
            try:
                self.experiment_id = self._call(
                    "create_experiment",
                    self.client.create_experiment,
                    experiment,
                    artifact_location=self._artifact_location(experiment),
                )
            except MlflowException as exc:  # another driver created it a moment ago
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = self.client.get_experiment_by_name(experiment)
                self.experiment_id = found.experiment_id
        else:
            self.experiment_id = found.experiment_id if found else None

    # -- resilience ------------------------------------------------------------------------
    def _call(
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

    def _enqueue(self, run_id: str, batch: dict[str, Any]) -> None:
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
                    self._call("log_batch", self.client.log_batch, run_id, **batch)
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

    def _artifact_location(self, experiment: str) -> str | None:
        db = _sqlite_path(self.uri)
        if db is None:
            return None  # a tracking server decides (artifacts proxied)
        return (db.parent / "artifacts" / experiment).resolve().as_uri()

    # -- reading ---------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        """All runs of the experiment, one row each: params.*, metrics.*, tags.*, status."""
        if self.experiment_id is None:
            return pd.DataFrame()
        self.flush()  # read what this tracker wrote
        rows = []
        token = None
        while True:
            page = self._call(
                "search_runs",
                self.client.search_runs,
                [self.experiment_id],
                max_results=1000,
                page_token=token,
            )
            for run in page:
                row: dict[str, Any] = {
                    "run_id": run.info.run_id,
                    "status": run.info.status,
                    "start_time": run.info.start_time,
                    "end_time": run.info.end_time,
                }
                row.update({f"params.{k}": v for k, v in run.data.params.items()})
                row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
                row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
                rows.append(row)
            token = page.token
            if not token:
                break
        return pd.DataFrame(rows)

    def child_runs(self) -> pd.DataFrame:
        df = self.runs()
        if df.empty or f"tags.{PARENT_TAG}" not in df:
            return pd.DataFrame()
        return df[df[f"tags.{PARENT_TAG}"].notna()].reset_index(drop=True)

    def parent_runs(self) -> pd.DataFrame:
        df = self.runs()
        if df.empty:
            return df
        if f"tags.{PARENT_TAG}" not in df:
            return df
        return df[df[f"tags.{PARENT_TAG}"].isna()].reset_index(drop=True)

    def finished_run_keys(self) -> dict[str, str]:
        df = self.child_runs()
        if df.empty or "tags.run_key" not in df:
            return {}
        done = df[df["status"] == RunStatus.to_string(RunStatus.FINISHED)]
        return dict(zip(done["tags.run_key"], done["run_id"], strict=True))

    def download(self, run_id: str, path: str, dst: Path) -> Path:
        """One artifact into ``dst``. Reports and ``status`` read a file per run: MLflow's
        per-download progress bar stays off unless the user turned it on."""
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.flush()
        return Path(
            self._call("download_artifacts", self.client.download_artifacts, run_id, path, str(dst))
        )

    def scores(self, run_id: str, path: str = "scores.parquet") -> pd.DataFrame | None:
        """A child run's per-video scores (the source of every table), or None if it has none."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                return pd.read_parquet(self.download(run_id, path, Path(tmp)))
            except (MlflowException, OSError) as exc:
                log.info(f"run {run_id} has no readable {path}: {exc}")
                return None

    # -- writing ---------------------------------------------------------------------------
    def start_parent(
        self,
        name: str,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        spec: Mapping[str, Any] | None = None,
    ) -> str:
        """A sweep's parent run; ``spec`` is stored in full as ``spec.json`` (read back by
        ``spec()``) and as the ``spec`` param, cut and marked beyond MLflow's limit."""
        run_id = self._create_run(name, dict(tags))
        if spec is not None:
            text = json.dumps(spec, sort_keys=True)
            self.log_artifacts(run_id, {SPEC_ARTIFACT: text.encode()})
            cut = text if len(text) <= MAX_PARAM else text[: MAX_PARAM - len(CUT_MARK)] + CUT_MARK
            params = {**params, "spec": cut}
        self._log(run_id, params=params, sync=True)
        return run_id

    def spec(self, run_id: str) -> dict | None:
        """A parent run's full spec (``spec.json``); None for runs from before it was stored."""
        listed = self._call("list_artifacts", self.client.list_artifacts, run_id)
        if SPEC_ARTIFACT not in {a.path for a in listed}:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            return json.loads(self.download(run_id, SPEC_ARTIFACT, Path(tmp)).read_text())

    def start_child(
        self, parent_id: str, name: str, tags: Mapping[str, str], params: Mapping[str, Any]
    ) -> str:
        """A child run for a trial; stale unfinished runs of the same key are removed first."""
        self._drop_stale(tags["run_key"])
        run_id = self._create_run(name, {**tags, PARENT_TAG: parent_id})
        self._log(run_id, params=params, sync=True)
        return run_id

    def _create_run(self, name: str, tags: dict[str, str]) -> str:
        """Create a run; a retried create finds the run an unanswered attempt already made."""
        self.flush()
        token = uuid.uuid4().hex

        def existing() -> str | None:
            found = self.client.search_runs(
                [self.experiment_id], filter_string=f"tags.`{CREATE_TOKEN_TAG}` = '{token}'"
            )
            return found[0].info.run_id if found else None

        run: Any = self._call(
            "create_run",
            self.client.create_run,
            self.experiment_id,
            run_name=name,
            tags={**tags, CREATE_TOKEN_TAG: token},
            on_retry=existing,
        )
        return run if isinstance(run, str) else run.info.run_id

    def adopt_child(self, parent_id: str, run_key: str) -> tuple[str, int, set[str]] | None:
        """The unfinished child run a resumed trial continues (one run per trial), moved under
        ``parent_id`` and RUNNING again: its id, the last epoch it logged and its metric names.
        None if there is none. A dead driver's parent run still RUNNING is ended KILLED."""
        df = self.child_runs()
        if df.empty or "tags.run_key" not in df:
            return None
        stale = df[(df["tags.run_key"] == run_key) & (df["status"] != "FINISHED")]
        if stale.empty:
            return None
        row = stale.sort_values("start_time").iloc[-1]
        for other in stale["run_id"]:
            if other != row["run_id"]:
                self._call("delete_run", self.client.delete_run, other)
        run_id, old_parent = str(row["run_id"]), str(row[f"tags.{PARENT_TAG}"])
        if old_parent != parent_id:
            if self._call("get_run", self.client.get_run, old_parent).info.status == "RUNNING":
                self._call("set_terminated", self.client.set_terminated, old_parent, "KILLED")
            self._log(run_id, tags={PARENT_TAG: parent_id}, sync=True)
        if isinstance(row.get("tags.error"), str):
            self._call("delete_tag", self.client.delete_tag, run_id, "error")
        self._call("update_run", self.client.update_run, run_id, status="RUNNING")
        history = self._call("get_metric_history", self.client.get_metric_history, run_id, "epoch")
        names = {
            k.split(".", 1)[1] for k, v in row.items() if k.startswith("metrics.") and pd.notna(v)
        }
        return run_id, max((int(m.step) for m in history), default=0), names

    def _drop_stale(self, run_key: str) -> None:
        df = self.child_runs()
        if df.empty or "tags.run_key" not in df:
            return
        stale = df[(df["tags.run_key"] == run_key) & (df["status"] != "FINISHED")]
        for run_id in stale["run_id"]:
            self._call("delete_run", self.client.delete_run, run_id)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        self._log(run_id, metrics=metrics, step=step)

    def log_artifacts(
        self, run_id: str, files: Mapping[str, bytes] | Path, artifact_path: str | None = None
    ) -> None:
        """Files (a folder, or name -> bytes) as artifacts of a run, under ``artifact_path``."""
        self.flush()
        if isinstance(files, Path):
            self._call(
                "log_artifacts", self.client.log_artifacts, run_id, str(files), artifact_path
            )
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, blob in files.items():
                (Path(tmp) / name).write_bytes(blob)
            self._call("log_artifacts", self.client.log_artifacts, run_id, tmp, artifact_path)

    def log_summary(
        self, run_id: str, files: Mapping[str, bytes], description: str | None = None
    ) -> None:
        """A sweep's summary on its parent run: files under ``summary/`` (table, statistics,
        figure) and the markdown table as the run's description, readable in the MLflow UI."""
        self.log_artifacts(run_id, files, "summary")
        if description:
            self._log(run_id, tags={"mlflow.note.content": description}, sync=True)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self._log(run_id, tags=tags)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        """End a run once everything logged before reached MLflow."""
        self.flush()
        self._call("set_terminated", self.client.set_terminated, run_id, status=status)

    def _log(
        self,
        run_id: str,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        step: int = 0,
        sync: bool = False,
    ) -> None:
        ts = int(time.time() * 1000)
        p = [Param(k, str(v)[:MAX_PARAM]) for k, v in (params or {}).items()]
        m = [
            Metric(k, float(v), ts, step)
            for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
        ]
        t = [RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()]
        for i in range(0, max(len(p), len(m), len(t), 1), MAX_BATCH):
            chunk = slice(i, i + MAX_BATCH)
            if p[chunk] or m[chunk] or t[chunk]:
                batch = {"metrics": m[chunk], "params": p[chunk], "tags": t[chunk]}
                if sync:
                    self.flush()
                    self._call("log_batch", self.client.log_batch, run_id, **batch)
                else:
                    self._enqueue(run_id, batch)


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


def genotype_figures(tracker: Tracker, out: Path) -> list[Path]:
    """The genotype pictures of the finished searched trials, one PNG per trial, into ``out``."""
    children = tracker.child_runs()
    if children.empty or "tags.workload" not in children:
        return []
    done = children[
        (children["status"] == "FINISHED") & (children["tags.workload"] == "nas_search")
    ]
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
