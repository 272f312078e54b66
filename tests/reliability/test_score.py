"""`orchestrate score`: non-finite scores and duplicated video ids are refused with the rows
named (exit 2, one line, no traceback); `--json` is always valid JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.cli_common import json_safe

runner = CliRunner()


def scores(**changes) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d", "e", "f"],
            "score": [0.9, 0.8, 0.4, 0.3, 0.6, 0.2],
            "label": [1, 1, 1, 0, 0, 0],
            "pai": ["live", "live", "live", "print", "display", "display"],
        }
    )
    return df.assign(**changes)


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity, which are not JSON."""

    def refuse(name: str):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("case", "table", "args", "message"),
    [
        (
            "inf_score",
            scores(score=[0.9, math.inf, 0.4, 0.3, 0.6, 0.2]),
            [],
            "non-finite score (inf) in 1 row(s) (data rows 2)",
        ),
        (
            "minus_inf_score",
            scores(score=[0.9, 0.8, 0.4, -math.inf, 0.6, -math.inf]),
            [],
            "non-finite score (-inf) in 2 row(s) (data rows 4, 6)",
        ),
        (
            "duplicated_video_id",
            scores(video_id=["a", "b", "c", "d", "b", "f"]),
            [],
            "duplicated video_id, e.g. 'b' (2 rows share an id: data rows 2, 5)",
        ),
        ("inf_threshold", scores(), ["--threshold", "inf"], "--threshold 'inf': expected"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isidentifier() else "",
)
def test_score_refuses_with_the_rows_named(case, table, args, message, tmp_path: Path) -> None:
    path = tmp_path / "test.csv"
    table.to_csv(path, index=False)
    out = runner.invoke(app, ["score", str(path), "--json", *args])
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out.output
    assert "Traceback" not in out.output


def test_score_json_is_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "test.parquet"
    scores().to_parquet(path)
    out = runner.invoke(app, ["score", str(path), "--threshold", "test_eer", "--json"])
    assert out.exit_code == 0, out.output
    got = strict_json(out.stdout)
    assert got["threshold_policy"] == "test_eer" and 0 <= got["acer"] <= 1


def test_non_finite_values_become_null() -> None:
    import numpy as np

    value = {"threshold": math.inf, "eer": np.float64("nan"), "n": np.int64(3), "ok": True}
    text = json.dumps(json_safe({**value, "per": {"print": -math.inf}}), allow_nan=False)
    assert strict_json(text) == {
        "threshold": None,
        "eer": None,
        "n": 3,
        "ok": True,
        "per": {"print": None},
    }
