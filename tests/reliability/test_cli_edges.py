"""The command line's rough edges, each as a user meets it: a bad ``--set`` is one line before
any work, read-only commands stay read-only, ``status`` counts the current plan, ``score``
selects a split, choices are choices, ``--json`` output, quiet logging."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.cli_common import MLFLOW_LEVEL_ENV, PROGRESS_BAR_ENV
from orchestrator.settings import LOG_LEVEL_ENV
from orchestrator.tracking.runs import Tracker
from tests.sweeps import runs

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = "ablation_cdc_theta"
RUN = ["run", EXPERIMENT, "--preset", "smoke"]
NOTE = "mlflow.note.content"
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


# -- one real sweep, two invocations: theta [0, 0.7] in a process of its own, then [0.7, 1] ----


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in (PROGRESS_BAR_ENV, LOG_LEVEL_ENV, MLFLOW_LEVEL_ENV, "FAS_RAY_LOG_TO_DRIVER"):
        environ.pop(name, None)
    cmd = [sys.executable, "-m", "orchestrator.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def sweep(smoke_root: Path, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("sweep")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    first = _cli(*RUN, "--set", "grid.theta=[0.0, 0.7]", "--tracking-uri", uri, cwd=root)
    assert first.returncode == 0, first.stdout + first.stderr
    return {"uri": uri, "root": root, "first": first}


@pytest.fixture(scope="module")
def second(sweep: dict, local_ray) -> dict:
    out = runner.invoke(
        app, [*RUN, "--set", "grid.theta=[0.7, 1.0]", "--tracking-uri", sweep["uri"]]
    )
    assert out.exit_code == 0, out.output
    assert "1 already in MLflow, 1 to run" in out.output
    return {**sweep, "second": out.output}


def test_a_run_prints_no_library_logging_and_no_data_generation(sweep: dict) -> None:
    first = sweep["first"]
    text = first.stdout + first.stderr
    for noise in ("INFO", "WARNING", "alembic", "Token authentication", "Downloading"):
        assert noise not in text, text
    assert "generat" not in text  # the session's smoke data is cached
    assert "data: embedded synthetic benchmark, size 'smoke'" in first.stdout
    assert "done: 2 finished, 0 failed, 0 reused" in first.stdout


def test_status_counts_the_latest_plan(second: dict) -> None:
    out = runner.invoke(app, ["status", "--json", "--tracking-uri", second["uri"]])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.stdout)
    # three trials are stored (theta 0, 0.7, 1); the latest invocation planned two
    want = {"experiment": EXPERIMENT, "preset": "smoke", "trials": 2, "done": 2}
    assert row == {**want, "running": 0, "failed": 0, "missing": 0}
    table = runner.invoke(app, ["status", "--tracking-uri", second["uri"]])
    cells = [c.strip() for c in table.output.splitlines()[3].split("│")[1:-1]]
    assert cells == [EXPERIMENT, "smoke", "2", "2", "0", "0", "0"], table.output
    # a re-run with nothing left to run still records its plan on the sweep's parent
    again = runner.invoke(app, [*RUN, "--set", "grid.theta=[0.7]", "--tracking-uri", second["uri"]])
    assert again.exit_code == 0 and "1 already in MLflow, 0 to run" in again.output, again.output
    out = runner.invoke(app, ["status", "--json", "--tracking-uri", second["uri"]])
    assert json.loads(out.stdout)[0] == {
        **want,
        "trials": 1,
        "done": 1,
        **dict.fromkeys(("running", "failed", "missing"), 0),
    }


def test_score_of_a_runs_own_scores_reproduces_its_metrics(sweep: dict, tmp_path: Path) -> None:
    client = MlflowClient(sweep["uri"])
    _, children = runs(sweep["uri"], EXPERIMENT)
    run = children[0]
    path = client.download_artifacts(run.info.run_id, "scores.parquet", str(tmp_path))
    out = runner.invoke(app, ["score", path, "--split", "test", "--dev-split", "dev", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    for metric in ("apcer", "bpcer", "acer", "hter", "auc"):
        assert got[metric] == pytest.approx(run.data.metrics[f"test_{metric}"]), metric
    assert got["threshold"] == pytest.approx(run.data.metrics["threshold"])
    mixed = runner.invoke(app, ["score", path])  # dev and test rows together mean nothing
    assert mixed.exit_code == 2 and "rows of several splits (dev, test)" in mixed.output
    missing = runner.invoke(app, ["score", path, "--split", "train"])
    assert (
        missing.exit_code == 2 and "no rows of split 'train'; splits: dev, test" in missing.output
    )


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_report_is_read_only_unless_asked_and_says_n_1(second: dict, tmp_path: Path) -> None:
    uri, root = second["uri"], second["root"]
    client = MlflowClient(uri)
    parent = runs(uri, EXPERIMENT)[0][-1].info.run_id  # the latest invocation's
    client.delete_tag(parent, NOTE)  # the summary `run` wrote, gone: does `report` write one?
    before = _files(root)
    out = runner.invoke(app, ["report", "--tables", "--out", str(tmp_path), "--tracking-uri", uri])
    assert out.exit_code == 0, out.output
    assert "(n = 1)" in out.output and "± 0.0" not in out.output  # one seed per point
    assert "Downloading" not in out.output
    assert _files(root) == before and NOTE not in client.get_run(parent).data.tags
    logged = runner.invoke(
        app, ["report", "--log-to-mlflow", "--out", str(tmp_path), "--tracking-uri", uri]
    )
    assert logged.exit_code == 0, logged.output
    assert "logged to MLflow" in logged.output and _files(root) != before
    note = client.get_run(parent).data.tags[NOTE]
    assert note.startswith(f"**{EXPERIMENT}: oulu_npu_p1, smoke preset") and "(n = 1)" in note


def test_list_json_and_choices() -> None:
    out = runner.invoke(app, ["list", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["experiment"]: r for r in json.loads(out.stdout)}
    assert rows[EXPERIMENT]["trials"] == {"smoke": 11, "quick": 6, "paper": 11}
    assert rows[EXPERIMENT]["protocol"] == "oulu_npu_p1"
    for args, value, valid in (
        (["run", EXPERIMENT, "--preset", "huge"], "huge", ("smoke", "quick", "paper")),
        (["report", "--format", "pdf"], "pdf", ("md", "csv", "latex")),
    ):
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2 and f"'{value}' is not one of" in bad.output, bad.output
        assert all(f"'{v}'" in bad.output for v in valid)


def test_a_store_without_experiments_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    Tracker(uri, "scratch")  # a real store ...
    MlflowClient(uri).delete_experiment(Tracker(uri, "scratch").experiment_id)  # ... now empty
    for command in (["status"], ["status", "--json"], ["report"]):
        out = runner.invoke(app, [*command, "--tracking-uri", uri])
        assert out.exit_code == 2, out.output
        lines = [line for line in out.output.splitlines() if line.strip()]
        assert lines == [
            f"error: no experiments in MLflow at {uri}; check --tracking-uri or "
            "MLFLOW_TRACKING_URI, or run an experiment first (orchestrate list)"
        ]
