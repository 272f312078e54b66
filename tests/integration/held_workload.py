"""A test workload: ``train_eval`` held inside its report after one epoch until a file appears.

A test cluster registers it in every Ray worker (``register`` as the ``worker_process_setup_hook``)
so a test can stop a trial at a known epoch -- an event it controls, never a timer -- and take a
node away there. Only a first attempt is held: a resumed one (``data.resume``) runs through.
Params: ``train_eval``'s plus ``hold_after_epoch`` and ``release_file``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from workloads.base import WORKLOADS, DataHandle, Report, WorkloadResult
from workloads.train_eval import data_config, train_eval

NAME = "held_train_eval"


def held_train_eval(params: dict[str, Any], data: DataHandle, report: Report) -> WorkloadResult:
    params = dict(params)
    hold = float(params.pop("hold_after_epoch"))
    release = Path(params.pop("release_file"))

    def held(metrics: dict[str, float], checkpoint=None) -> None:
        if checkpoint is None:
            report(metrics)
        else:
            report(metrics, checkpoint)
        if data.resume is None and float(metrics.get("epoch", 0)) == hold:
            while not release.exists():
                time.sleep(0.05)  # waits for the test's event

    return train_eval(params, data, held)


def _data_config(params: dict[str, Any]):
    return data_config(
        {k: v for k, v in params.items() if k not in ("hold_after_epoch", "release_file")}
    )


held_train_eval.data_config = _data_config  # type: ignore[attr-defined]


def register() -> None:
    if NAME not in WORKLOADS:
        WORKLOADS.add(NAME, held_train_eval)
