"""`orchestrate report --html` on a finished smoke NAS sweep, opened in a real headless Chromium.

The browser test uses the session's ``browser`` (tests/conftest.py: Debian's ``chromium``
driven by ``playwright``; without them it skips, unless ``FAS_REQUIRE_BROWSER=1`` (CI) makes a
missing browser a failure). Playwright waits for the page's ``load`` event (every image decoded) by
itself: nothing here sleeps.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.report import experiment_report, table_cells
from orchestrator.report_html import INDEX, page_file
from orchestrator.tracking.pages import REPORT_ARTIFACT_DIR
from orchestrator.tracking.runs import Tracker
from tests.orchestrator.test_report_html import Page
from tests.sweeps import runs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENT = "nas_fas_space"
#: The smoke sweep's FAS-space variants (two that differ in every choice: input, ops, pooling,
#: attention, are checked by name in the browser).
VARIANTS = tuple(
    f"{i}-{t}"
    for i in ("S", "SD")
    for t in ("Van-Max", "CD-Max", "CD-CDP", "CD-Max-Att", "CD-CDP-Att")
)
SHOWN = ("S-CD-CDP-Att", "SD-Van-Max")
UI = "http://mlflow.example:5000"


@pytest.fixture(scope="module")
def sweep(nas_fas_sweep: str, tmp_path_factory) -> tuple[str, Path]:
    """The shared finished smoke NAS sweep and its report (tables, HTML, logged to MLflow)."""
    uri, out = nas_fas_sweep, tmp_path_factory.mktemp("html_report") / "reports"
    args = ["report", "--html", "--log-to-mlflow", "--tracking-uri", uri, "--out", str(out)]
    rep = CliRunner().invoke(app, [*args, "--experiment", EXPERIMENT, "--mlflow-url", UI])
    assert rep.exit_code == 0, rep.output
    return uri, out


def expected_cells(uri: str) -> list[list[str]]:
    """The report's own table, rebuilt from the store as `report --tables` builds it."""
    tracker = Tracker(uri, EXPERIMENT, create=False)
    report = experiment_report(
        EXPERIMENT,
        tracker.parent_runs(),
        tracker.child_runs(),
        tracker.scores,
        spec_of=tracker.spec,
    )
    return table_cells(report.table)


def test_pages_are_written_and_logged_to_the_parent_run(sweep, tmp_path: Path) -> None:
    uri, out = sweep
    page = out / page_file(EXPERIMENT)
    assert (out / INDEX).exists() and page.exists()
    parsed = Page(page.read_text())
    assert parsed.tables["report"] == expected_cells(uri)
    assert len(parsed.images) == 2 + len(VARIANTS)  # ROC/DET, per-epoch curves, one per variant
    drawn = sorted(p.name for p in (out / f"{EXPERIMENT}_genotypes").iterdir())
    assert drawn == sorted(f"variant={v}_s0.png" for v in VARIANTS)
    parents, children = runs(uri, EXPERIMENT)
    links = {f"{UI}/#/experiments/{c.info.experiment_id}/runs/{c.info.run_id}" for c in children}
    assert links <= set(parsed.links)
    client = MlflowClient(uri)
    logged = [a.path for a in client.list_artifacts(parents[-1].info.run_id, REPORT_ARTIFACT_DIR)]
    assert logged == [f"{REPORT_ARTIFACT_DIR}/{page_file(EXPERIMENT)}"]
    copy = client.download_artifacts(parents[-1].info.run_id, logged[0], str(tmp_path))
    assert Page(Path(copy).read_text()).tables["report"] == parsed.tables["report"]


def test_report_without_log_flag_leaves_the_store_alone(sweep, tmp_path: Path) -> None:
    uri, _ = sweep
    before = {(r.info.run_id, r.info.end_time) for r in runs(uri, EXPERIMENT)[0]}
    args = ["report", "--html", "--tracking-uri", uri, "--out", str(tmp_path)]
    rep = CliRunner().invoke(app, args)
    assert rep.exit_code == 0, rep.output
    assert "logged" not in rep.output
    assert {(r.info.run_id, r.info.end_time) for r in runs(uri, EXPERIMENT)[0]} == before


# --- in a real browser ----------------------------------------------------------------------


def test_the_page_renders_with_its_images_and_the_tables_numbers(browser, sweep) -> None:
    uri, out = sweep
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / INDEX).as_uri(), wait_until="load")
    page.get_by_role("link", name=EXPERIMENT).click()
    page.wait_for_load_state("load")
    assert page.url.endswith(page_file(EXPERIMENT))
    assert page.get_by_role("heading", name=EXPERIMENT, level=1).is_visible()

    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(sizes) == 2 + len(VARIANTS) and all(ok and w > 0 and h > 0 for ok, w, h in sizes), (
        sizes
    )
    assert page.get_by_alt_text("ROC and DET").is_visible()
    for variant in SHOWN:
        caption = re.compile(rf"^{re.escape(variant)}: test ACER")  # not SD-… for S-…
        assert page.get_by_text(caption).is_visible()

    shown = page.eval_on_selector_all(
        'table[data-table="report"] tr',
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))",
    )
    assert shown == expected_cells(uri)
    # self-contained: nothing but the two local files was fetched (images are data URIs)
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    page.close()
