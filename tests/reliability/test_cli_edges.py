"""The command line's rough edges, each as a user meets it: a bad ``--set`` is one line before
any work, read-only commands stay read-only, ``status`` counts the current plan, ``score``
selects a split, choices are choices, ``--json`` output, quiet logging."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("experiment", "setting", "message"),
    [
        ("ablation_cdc_theta", "grid.theta=[abc]", "grid.theta='abc': expected a number in [0, 1]"),
        ("ablation_cdc_theta", "grid.variant=foo", "'variant' is not a param"),
        ("nas_fas_space", "grid.variant=foo", "grid.variant='foo': expected one of S-Van-Max"),
        ("ablation_cdc_theta", "report=foo", "report='foo': expected one of ablation"),
        ("ablation_cdc_theta", "grid={theta: [abc]}", "grid.theta='abc'"),
        ("ablation_cdc_theta", "resources={cpu: x}", "resources.cpu='x'"),
        ("ablation_cdc_theta", "grid=[1]", "--set grid: expected dict"),
        ("ablation_cdc_theta", "grid.theta=[1", "--set grid.theta: cannot parse value"),
        ("ablation_cdc_theta", "width=1e9", "the network cannot be built"),
    ],
)
def test_a_bad_set_value_is_one_line_before_any_work(
    experiment: str, setting: str, message: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAS_DATA_ROOT", raising=False)
    db = tmp_path / "m.db"
    args = ["run", experiment, "--preset", "smoke", "--set", setting]
    out = runner.invoke(app, [*args, "--tracking-uri", f"sqlite:///{db}"])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.output
    assert message in lines[0]
    assert not (tmp_path / "home" / "data").exists()  # no data generated
    assert not db.exists()  # no store created
