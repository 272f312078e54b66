"""Which MLflow store a command uses, checked before anything else.

Every command checks its store first (``resolve_tracking_uri``): a tracking server gets one cheap
request with MLflow's own retries off and a short timeout (``FAS_MLFLOW_CHECK_SECONDS``, default
5), so an unreachable server ends a command in seconds with one line naming the URI; a read-only
command (``status``, ``report``) on a SQLite or local path that does not exist (or holds no
MLflow store) stops there instead of creating one. What is worth retrying later
(``is_transient``) is decided here too.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import requests
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from core.filelock import file_lock

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)
_TRANSIENT_ERRORS += (requests.exceptions.RetryError, requests.exceptions.ChunkedEncodingError)
CHECK_SECONDS_ENV = "FAS_MLFLOW_CHECK_SECONDS"
DEFAULT_CHECK_SECONDS = 5


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
    local, db = _local_path(uri), sqlite_path(uri)
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


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URI (``sqlite:////abs`` is absolute)."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


@contextlib.contextmanager
def schema_lock(uri: str):
    """Hold a lock beside a SQLite store while its schema may be created or migrated: two
    drivers opening a new store at once would otherwise race in MLflow's migrations."""
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    with file_lock(db.parent / f".{db.name}.lock"):
        yield


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
        return sqlite_path(uri)
    if uri.startswith("file:"):
        return Path(uri[len("file:") :].removeprefix("//"))
    return None if ":" in uri or uri.startswith("databricks") else Path(uri)
