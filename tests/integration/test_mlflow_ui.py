"""The MLflow UI on a finished smoke sweep, in a real headless Chromium: the landing page (the
experiment's results view) shows every trial's swept parameter and test ACER without a click,
and the sweep's parent run shows its summary.

Uses the session's ``browser`` (tests/conftest.py: the system's Chromium through Playwright;
skipped without them, a failure when ``FAS_REQUIRE_BROWSER=1``, as in CI). The landing
page's screenshot goes to ``$FAS_SCREENSHOT_DIR/mlflow_runs.png`` when that is set (``docs/``
for the README), else to the test's tmp folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.tracking.presentation import landing_url
from tests.mlflow_server import MlflowServer
from tests.sweeps import runs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENT = "ablation_cdc_theta"
SCREENSHOT_ENV = "FAS_SCREENSHOT_DIR"
#: The browser remembers the assistant panel as seen and closed: the runs table gets the width.
QUIET_ASSISTANT = (
    "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
    "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
)
WAIT_MS = 120_000  # a bound on Playwright's auto-waiting on a loaded machine, not a pace


def _cell(row, text: str):
    """The cell of a runs-table row whose whole text is ``text``."""
    return row.locator("[role=gridcell]").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))


def test_landing_page_shows_every_trial_and_the_parent_shows_the_summary(
    browser, smoke_root: Path, local_ray, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    runner = CliRunner()
    base = ["run", EXPERIMENT, "--preset", "smoke", "--tracking-uri", uri]
    for sets in (["grid.theta=[0.0,0.7]", "seeds=2"], ["grid.theta=[0.0,0.4,0.7]", "seeds=1"]):
        result = runner.invoke(app, [*base, *[a for s in sets for a in ("--set", s)]])
        assert result.exit_code == 0, result.output
    # The second run added a grid point: its trial nests under the same parent.
    parents, children = runs(uri, EXPERIMENT)
    assert len(parents) == 1 and len(children) == 5
    parent = parents[0]
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    for child in children:
        assert "epoch" not in child.data.metrics and "elapsed_s" not in child.data.metrics
        assert {"test_apcer_print", "test_apcer_display"} <= set(child.data.metrics)
        assert (
            "node_id" not in child.data.tags and "orchestrator.create_token" not in child.data.tags
        )
        assert child.inputs.dataset_inputs, "the manifest is the trial's dataset input"
    assert "best/test_acer" in parent.data.metrics and parent.data.tags["best"]

    server = MlflowServer(tmp_path / "server", db=db)
    server.root.mkdir()
    server.launch()
    try:
        server.wait_ready()
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.add_init_script(QUIET_ASSISTANT)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)

        # Landing: the results view lists every trial with its theta and test ACER.
        page.goto(landing_url(server.uri, experiment_id))
        for column in ("params.`theta`", "metrics.`test_acer`"):
            expect(page.locator(f'[role=columnheader][col-id="{column}"]')).to_be_visible()
        for child in children:
            row = page.locator(f'[role=row][row-id="{child.info.run_id}"]')
            expect(row.filter(has_text=child.info.run_name)).to_have_count(1)
            theta = child.data.params["theta"]
            acer = str(child.data.metrics["test_acer"])
            expect(_cell(row, theta)).to_have_count(1)
            expect(_cell(row, acer).first).to_be_visible()
        expect(page.get_by_text("CDCN with theta")).to_be_visible()  # the description
        out = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path)
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / "mlflow_runs.png"))

        # The parent run: the sweep's table in its description, its summary metrics.
        route = f"#/experiments/{experiment_id}/runs/{parent.info.run_id}"
        page.goto(f"{server.uri}/{route}?workflowType=machine_learning")
        expect(page.get_by_text("ΔACER vs θ=0").first).to_be_visible()
        expect(page.get_by_text("smoke preset").first).to_be_visible()
        expect(page.get_by_text("best/test_acer")).to_be_visible()
        context.close()
    finally:
        server.stop()
