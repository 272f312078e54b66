"""The HTML report without a browser: a page built from a runs frame shaped like MLflow's holds
the report's own table cells, only inline images, its runs' links; the curves agree with an
independent ROC computation; genotypes are drawn with their FAS-space choices."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from orchestrator.report import experiment_report, table_cells
from orchestrator.report_curves import error_curve, operating_point
from orchestrator.report_html import INDEX, experiment_html, page_file, write_pages
from orchestrator.report_page import PageSource, build_page, genotype_title
from search_spaces.draw import draw_genotype, op_colours
from search_spaces.genotypes import sample_genotype
from search_spaces.spaces import make_space
from tests.orchestrator.test_report import ablation, scores

PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Tables (by ``data-table``) as rows of cell texts, image sources, link targets."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("data-table")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "a":
            self.links.append(a["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def history(row: dict) -> pd.DataFrame:
    """Two epochs of a training loss that falls faster for a larger θ."""
    theta = float(row["params.theta"])
    return pd.DataFrame(
        {"metric": "train_loss", "step": [1, 2], "value": [1.0, 1.0 - 0.5 * (theta + 0.1)]}
    )


def source(frames: dict, genotypes: dict | None = None) -> PageSource:
    return PageSource(
        scores=frames.get,
        history=history,
        genotype=(genotypes or {}).get,
        url=lambda run_id: f"http://tracking.example:5000/#/experiments/1/runs/{run_id}",
    )


@pytest.fixture(scope="module")
def built():
    parents, children, frames = ablation()
    spec = {"protocol": "oulu_npu_p1", "grid": {"theta": [0.0, 0.5, 0.7]}, "report": "ablation"}
    spec.update(preset="quick", workload="train_eval", description="CDC θ ablation")
    report = experiment_report("ablation_cdc_theta", parents, children, frames.get, 200)
    page = build_page("ablation_cdc_theta", report, spec, children, source(frames))
    return report, page, children


def test_the_page_holds_the_report_table_cell_for_cell(built) -> None:
    report, page, _ = built
    parsed = Page(experiment_html(page))
    assert parsed.tables["report"] == table_cells(report.table)
    assert any("[" in c for c in parsed.tables["report"][1])  # intervals are in the cells
    stats = parsed.tables["statistics"]
    assert len(stats) == len(report.stats) + 1 and stats[0][:3] == ["row", "metric", "statistic"]


def test_images_are_inline_pngs_and_runs_link_to_mlflow(built) -> None:
    _, page, children = built
    parsed = Page(experiment_html(page))
    # the ablation figure, ROC/DET and per-epoch curves
    assert len(parsed.images) == 3 and len(page.figures) == 3
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    runs = [link for link in parsed.links if "/runs/" in link]
    assert sorted(runs) == sorted(
        f"http://tracking.example:5000/#/experiments/1/runs/{r}" for r in children["run_id"]
    )
    assert [row[0] for row in parsed.tables["runs"][1:]] == list(
        children.sort_values("start_time")["run_id"]
    )


def test_index_links_every_page(built, tmp_path) -> None:
    _, page, _ = built
    paths = write_pages([page], tmp_path)
    assert [p.name for p in paths] == [page_file(page.name), INDEX]
    index = Page(paths[-1].read_text())
    assert page_file(page.name) in index.links
    assert index.tables["index"][1][0] == "ablation_cdc_theta"
    assert "http" not in paths[0].read_text().replace("http://tracking.example", "")


def test_error_curve_matches_an_independent_roc() -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    frame = scores(3, 1.0)
    test = frame[frame.split == "test"]
    far, frr = error_curve(frame)
    fpr, tpr, _ = roc_curve(test["label"], test["score"], drop_intermediate=False)
    assert np.allclose(far, fpr) and np.allclose(1 - frr, tpr)
    assert np.trapezoid(1 - frr, far) == pytest.approx(roc_auc_score(test["label"], test["score"]))
    t = float(np.median(test["score"]))
    live, attack = test[test.label == 1]["score"], test[test.label == 0]["score"]
    assert operating_point(frame, t) == ((attack >= t).mean(), (live < t).mean())


def test_genotypes_are_drawn_with_their_variant_and_score(built) -> None:
    _, _, children = built
    frames = {}
    space = make_space("fas_cd")  # CDP pooling and attention
    genotype = sample_genotype(space, 0).to_dict()
    row = children.iloc[0].to_dict() | {"params.variant": "S-CD-CDP-Att", "tags.workload": "w"}
    title = genotype_title(row)
    assert title.startswith("S-CD-CDP-Att: test ACER ") and f"run {row['run_id']}" in title
    spec = {"workload": "w", "preset": "quick"}
    page = build_page(
        "x", built[0], spec, pd.DataFrame([row]), source(frames, {row["run_id"]: genotype})
    )
    (picture,) = page.genotypes
    assert picture.png.startswith(PNG) and picture.caption == title
    # every op of the space has its own colour, shared by all genotypes of the space
    assert len(set(op_colours(space).values())) == len(space.op_names) - 1


@pytest.mark.parametrize(
    "space", [make_space("fas_cd"), make_space("fas_van"), make_space("autofas")]
)
def test_every_space_kind_draws(space) -> None:
    assert draw_genotype(sample_genotype(space, 1), "title").startswith(PNG)
