"""Checking a Ray cluster before the driver joins it: the address, the token, the versions.

``ray.init(address=...)`` on a wrong address retries for tens of seconds and ends in a
traceback; on a cluster with token authentication (Ray >= 2.52: ``RAY_AUTH_MODE=token``) that
this process cannot authenticate to, it prints ``InvalidAuthToken`` warnings first. The check
asks the cluster's GCS once, with a short deadline, and turns each failure into one line that
says what to do.

Token authentication. A Ray process sends a token only when ``RAY_AUTH_MODE=token`` is set in
its environment; the token is ``RAY_AUTH_TOKEN``, else the file ``RAY_AUTH_TOKEN_PATH``, else
``~/.ray/auth_token``. Like Ray's own ``address="auto"``, a cluster on this machine gets this
machine's token without ``RAY_AUTH_MODE`` (the head started from the same token file); a
cluster elsewhere gets a token only when ``RAY_AUTH_MODE=token`` says so, so a token is never
sent to a remote address unasked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from orchestrator.settings import SettingsError

#: Seconds the check waits for the cluster to answer (TCP, then the GCS).
CHECK_SECONDS_ENV = "FAS_RAY_CHECK_SECONDS"
AUTH_MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV, TOKEN_PATH_ENV = "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN = Path("~/.ray/auth_token")
HEAD_HINT = "`ray get-auth-token` on the head prints it"

log = logging.getLogger(__name__)


class ClusterError(SettingsError):
    """The Ray cluster named by ``--address`` cannot be joined; one line says why and what to do."""


def check_cluster(address: str) -> None:
    """Raise ``ClusterError`` unless ``address`` answers as a Ray cluster this process can join
    (reachable, authenticated, same Ray and Python versions). Ray Client (``ray://``) addresses
    are left to ``ray.init``."""
    if address.startswith("ray://"):
        return
    if "://" in address:
        raise ClusterError(
            f"--address {address}: give the head's GCS address HOST:PORT (`ray start --head "
            f"--port`, default 6379) or auto, not a URL (the dashboard's http:// address is for "
            f"`ray job submit`)"
        )
    gcs = _resolve(address)
    host, _, port = gcs.rpartition(":")
    seconds = _check_seconds()
    if gcs != address:
        address = f"{address} ({gcs})"
    _reach(address, host, int(port), seconds)
    client = _authenticated_client(address, gcs, host, seconds)
    _same_versions(address, client)


def token_source() -> str | None:
    """Where this process's Ray token comes from (Ray's precedence), None without one."""
    if os.environ.get(TOKEN_ENV):
        return f"the {TOKEN_ENV} variable"
    if os.environ.get(TOKEN_PATH_ENV):
        path = Path(os.environ[TOKEN_PATH_ENV]).expanduser()
        if not (path.is_file() and os.access(path, os.R_OK) and path.stat().st_size):
            raise ClusterError(
                f"{TOKEN_PATH_ENV}={path}: expected a readable file holding the cluster's token"
            )
        return str(path)
    if DEFAULT_TOKEN.expanduser().is_file():
        return str(DEFAULT_TOKEN)
    return None


def is_local(host: str) -> bool:
    """Whether ``host`` is this machine (an address a socket here can bind to)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, _, _, _, sockaddr in infos:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((sockaddr[0], 0))
                return True
            except OSError:
                continue
    return False


def _check_seconds() -> float:
    raw = os.environ.get(CHECK_SECONDS_ENV, "10")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ClusterError(f"{CHECK_SECONDS_ENV}={raw!r}: expected a number of seconds > 0")
    return seconds


def _resolve(address: str) -> str:
    """``auto`` -> the cluster this machine runs (or ``RAY_ADDRESS``); HOST:PORT as given."""
    from ray._private.services import canonicalize_bootstrap_address

    try:
        gcs = canonicalize_bootstrap_address(address)
    except ConnectionError:
        gcs = None
    except Exception as exc:  # noqa: BLE001 - Ray's parser: ValueError, socket errors
        raise ClusterError(
            f"--address {address}: expected HOST:PORT of the Ray head or auto ({exc})"
        ) from None
    if gcs is None:
        raise ClusterError(
            f"--address {address}: no running Ray cluster found on this machine (start one with "
            f"`ray start --head`, or give the head's HOST:PORT)"
        )
    if ":" not in gcs:
        raise ClusterError(f"--address {address}: expected HOST:PORT of the Ray head or auto")
    return gcs


def _reach(address: str, host: str, port: int, seconds: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=seconds):
            return
    except socket.gaierror as exc:
        why = f"cannot resolve {host} ({exc.strerror})"
    except TimeoutError:
        why = f"no answer within {seconds:g} s ({CHECK_SECONDS_ENV})"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    raise ClusterError(
        f"Ray cluster at {address} is unreachable: {why}; is the head running (`ray start "
        f"--head --port {port}`), and does the firewall let this machine reach port {port}?"
    ) from None


def _authenticated_client(address: str, gcs: str, host: str, seconds: float):
    """A GCS client that got the cluster's id, enabling this machine's token for a local
    cluster that asks for one; ``ClusterError`` naming the token problem otherwise."""
    from ray.exceptions import AuthenticationError, RpcError

    explicit = os.environ.get(AUTH_MODE_ENV)
    source = token_source()
    if (explicit or "").lower() == "token" and source is None:  # Ray's C++ client would abort
        raise ClusterError(_auth_message(address, explicit, source, tried=True))
    try:
        return _gcs_client(gcs, seconds)
    except AuthenticationError:
        tried = explicit is not None and explicit.lower() == "token"
        if explicit is None and source is not None and is_local(host):
            _enable_token_mode()
            tried = True
            try:
                return _gcs_client(gcs, seconds)
            except AuthenticationError:
                pass
        raise ClusterError(_auth_message(address, explicit, source, tried)) from None
    except RpcError:
        raise ClusterError(
            f"{address} accepts connections but no Ray GCS answered within {seconds:g} s: give "
            f"the head's GCS port (`ray start --head --port`, default 6379), not the "
            f"dashboard's (8265)"
        ) from None


def _auth_message(address: str, explicit: str | None, source: str | None, tried: bool) -> str:
    """What to set, given the mode (``RAY_AUTH_MODE``), the token's source and whether this
    process sent a token."""
    where = f"Ray cluster at {address}"
    if tried and source is None:
        return (
            f"{where}: {AUTH_MODE_ENV}=token, but this machine has no token: put the head's "
            f"token ({HEAD_HINT}) in ~/.ray/auth_token, or set {TOKEN_PATH_ENV} or {TOKEN_ENV}"
        )
    if tried:
        return (
            f"{where} rejected this machine's token (from {source}): use the head's token "
            f"({HEAD_HINT}) through {TOKEN_ENV}, {TOKEN_PATH_ENV} or ~/.ray/auth_token"
        )
    now = f" (it is {explicit!r})" if explicit is not None else ""
    return (
        f"{where} requires token authentication: export {AUTH_MODE_ENV}=token{now} and give "
        f"this machine the head's token ({HEAD_HINT}) in ~/.ray/auth_token, {TOKEN_PATH_ENV} "
        f"or {TOKEN_ENV}"
    )


def _enable_token_mode() -> None:
    """``RAY_AUTH_MODE=token`` for this process and the Ray processes it starts (what Ray's own
    ``address="auto"`` does when this machine holds a token)."""
    from ray._private.authentication.authentication_token_setup import (
        maybe_enable_token_auth_if_token_available,
    )

    quiet = logging.getLogger(maybe_enable_token_auth_if_token_available.__module__)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its warning speaks to a head, not to a client
    try:
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        quiet.setLevel(level)
    log.info("Ray token authentication: using the token from %s", token_source())


def _gcs_client(gcs: str, seconds: float):
    from ray._raylet import AuthenticationTokenLoader, InnerGcsClient

    AuthenticationTokenLoader.instance().reset_cache()
    with _quiet_stderr():  # Ray's C++ client logs each failed attempt to stderr
        return InnerGcsClient.standalone(gcs, None, int(seconds * 1000))


def _same_versions(address: str, client) -> None:
    import ray
    from ray._common.usage.usage_lib import get_cluster_metadata
    from ray._private.utils import check_version_info

    try:
        metadata = get_cluster_metadata(client)
    except Exception:  # noqa: BLE001 - an old or starting head without metadata: ray.init decides
        return
    if not metadata:
        return
    try:
        check_version_info(metadata, "this process", raise_on_mismatch=True)
    except RuntimeError:
        python = ".".join(map(str, sys.version_info[:3]))
        raise ClusterError(
            f"Ray cluster at {address} runs Ray {metadata.get('ray_version')} on Python "
            f"{metadata.get('python_version')}, this process Ray {ray.__version__} on Python "
            f"{python}: install the same versions on both (`ray --version`, `python --version`)"
        ) from None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to a scratch file while Ray's C++ code logs there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as scratch:
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
