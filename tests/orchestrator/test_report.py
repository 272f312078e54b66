"""Report tables from a runs frame shaped like MLflow's (no store needed)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from orchestrator.report import experiment_report, render, summary_table


def _runs(preset: str = "quick") -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = {
        "protocol": "oulu_npu_p1",
        "grid": {"theta": [0.0, 0.7]},
        "report": "ablation",
        "preset": preset,
    }
    parents = pd.DataFrame([{"run_id": "p", "start_time": 1, "params.spec": json.dumps(spec)}])
    rows = []
    for theta, acers, status in ((0.0, [0.2, 0.4], "FINISHED"), (0.7, [0.1, 0.1], "FINISHED")):
        for seed, acer in enumerate(acers):
            rows.append(
                {
                    "run_id": f"{theta}-{seed}",
                    "status": status,
                    "start_time": 2,
                    "params.theta": str(theta),
                    "tags.preset": preset,
                    "metrics.test_apcer": acer,
                    "metrics.test_bpcer": acer,
                    "metrics.test_acer": acer,
                }
            )
    rows.append(
        {
            "run_id": "x",
            "status": "FAILED",
            "start_time": 3,
            "params.theta": "0.7",
            "tags.preset": preset,
        }
    )
    rows.append(
        {
            "run_id": "old",
            "status": "FINISHED",
            "start_time": 0,
            "params.theta": "0.7",
            "tags.preset": "smoke",
            "metrics.test_acer": 0.9,
        }
    )
    return parents, pd.DataFrame(rows)


def test_ablation_table_mean_std_counts_failures_and_ignores_other_presets() -> None:
    parents, children = _runs()
    rep = experiment_report("ablation_cdc_theta", parents, children)
    table = rep.table
    assert list(table["theta"]) == [0.0, 0.7]
    assert table.loc[0, "ACER (%)"] == "30.00 ± 14.14"  # mean 0.3, sample std 0.1414
    assert table.loc[1, "ACER (%)"] == "10.00 ± 0.00"
    assert list(table["trials"]) == [2, 2] and list(table["failed"]) == [0, 1]
    assert rep.figure[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("fmt", ["md", "csv", "latex"])
def test_render_formats(fmt: str) -> None:
    parents, children = _runs()
    text = render(summary_table(children[children["tags.preset"] == "quick"], "theta"), fmt)
    assert "ACER" in text and "_acer_mean" not in text
    if fmt == "md":
        assert text.splitlines()[1].startswith("|--")
    if fmt == "latex":
        assert "\\pm" in text and "\\%" in text
