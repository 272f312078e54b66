"""What every ``orchestrate`` command shares: the consoles, the one-line error exit, the common
options and plain-JSON output."""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

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
