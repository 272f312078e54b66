"""What every ``orchestrate`` command shares: the consoles, the one-line error exit, the common
options and plain-JSON output."""

from __future__ import annotations

import enum
import logging
import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.settings import LOG_LEVEL_ENV

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

TrackingUri = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at runtime
    typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlruns SQLite)"),
]
DataRoot = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        help="Folder with one sub-folder per dataset (default: $FAS_DATA_ROOT, else synthetic)"
    ),
]


#: Libraries whose INFO logging (and progress bars) a user sees only with ``orchestrate -v``.
LIBRARY_LOGGERS = ("ray", "mlflow", "alembic", "urllib3", "optuna", "filelock", "matplotlib")
PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
MLFLOW_LEVEL_ENV = "MLFLOW_LOGGING_LEVEL"


def choices(name: str, values: Iterable[str]) -> type[enum.Enum]:
    """A Typer choice (an Enum of strings) from the names a lower layer defines once."""
    return enum.Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


def set_verbosity(verbose: int) -> None:
    """Library logging: errors only by default (a user reads our lines, not Ray's or MLflow's),
    warnings and MLflow's download bars with ``-v``, info with ``-vv``, debug with ``-vvv``."""
    level = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}.get(verbose, logging.DEBUG)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    os.environ[LOG_LEVEL_ENV] = logging.getLevelName(level)
    os.environ.setdefault(MLFLOW_LEVEL_ENV, logging.getLevelName(level))  # read on its import
    if verbose:
        os.environ.setdefault(PROGRESS_BAR_ENV, "true")
    else:
        os.environ.setdefault(PROGRESS_BAR_ENV, "false")


def fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def one_line(exc: BaseException) -> str:
    """An error as the one line a user reads: its message, never a remote traceback (a Ray task
    error keeps the cause's message; ``-v`` shows the traceback)."""
    cause = getattr(exc, "cause", None)
    text = str(cause if isinstance(cause, BaseException) else exc)
    return " ".join(text.split()) or type(exc).__name__


def json_safe(value):
    """Plain JSON: numpy scalars as numbers, NaN and infinities as null (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return None
    return int(value) if isinstance(value, numbers.Integral) else number
