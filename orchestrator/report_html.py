"""``orchestrate report --html``: one self-contained page per experiment and an index over them.

Self-contained: CSS inline, every image a ``data:`` URI, no script and nothing fetched, so a page
reads the same from disk, from a mail attachment or in the MLflow UI's artifact preview. The
table cells are ``report.table_cells`` (what ``--tables`` prints), each table marked with
``data-table`` so a test can read it back.
"""

from __future__ import annotations

import base64
import math
from html import escape
from pathlib import Path
from string import Template

import pandas as pd

from orchestrator.report import table_cells
from orchestrator.report_page import ExperimentPage, Picture

INDEX = "index.html"
#: The statistics table's number columns (fractions) are shown with this many digits.
STAT_DIGITS = 4

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;
 padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
 border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
th,td{border:1px solid #ccc;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#555}.note{font-size:.9rem;color:#444;max-width:60rem}
.muted{color:#777;font-size:.9rem}nav a{margin-right:1rem}
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title><style>$css</style></head>
<body>
<nav><a href="$index">all experiments</a>$parent</nav>
$body
</body></html>
""")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def html_table(cells: list[list[str]], name: str) -> str:
    """A table from its header and rows (strings), tagged ``data-table="name"``."""
    head = "".join(f"<th>{escape(c)}</th>" for c in cells[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in cells[1:]
    )
    return (
        f'<table data-table="{escape(name)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _stat_cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{STAT_DIGITS}g}"
    return "" if value is None else str(value)


def statistics_cells(stats: pd.DataFrame) -> list[list[str]]:
    """The long statistics table (fractions) as text cells."""
    return [[str(c) for c in stats.columns]] + [
        [_stat_cell(v) for v in row] for row in stats.astype(object).itertuples(index=False)
    ]


def figure(picture: Picture) -> str:
    alt = escape(picture.alt or picture.caption)
    return (
        f'<figure><img src="{data_uri(picture.png)}" alt="{alt}">'
        f"<figcaption>{escape(picture.caption)}</figcaption></figure>"
    )


def _runs_table(page: ExperimentPage) -> str:
    rows = []
    for run in page.runs:
        acer = "" if math.isnan(run.acer) else f"{100 * run.acer:.2f}"
        link = f'<a href="{escape(run.url)}">{escape(run.label)}</a>'
        rows.append(
            f'<tr><td>{link}</td><td>{escape(run.status)}</td><td class="num">{acer}</td></tr>'
        )
    return (
        '<table data-table="runs"><thead><tr><th>run (MLflow)</th><th>status</th>'
        f"<th>test ACER (%)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def experiment_html(page: ExperimentPage) -> str:
    """The page of one experiment (a complete HTML document)."""
    rep = page.report
    parts = [f"<h1>{escape(page.name)}</h1>"]
    if page.description:
        parts.append(f'<p class="muted">{escape(page.description)}</p>')
    parts += [
        "<h2>Results</h2>",
        f"<p><strong>{escape(rep.title)}</strong></p>",
        html_table(table_cells(rep.table), "report"),
    ]
    if rep.note:
        parts.append(f'<p class="note">{escape(rep.note)}</p>')
    if rep.stats is not None and not rep.stats.empty:
        parts.append(
            "<details><summary>Every printed statistic (fractions; RI in percent)</summary>"
            + html_table(statistics_cells(rep.stats), "statistics")
            + "</details>"
        )
    if page.figures:
        parts.append("<h2>Figures</h2>")
        parts += [figure(p) for p in page.figures]
    if page.genotypes:
        parts.append("<h2>Searched architectures</h2>")
        parts += [figure(p) for p in page.genotypes]
    if page.runs:
        parts += ["<h2>Runs</h2>", _runs_table(page)]
    parent = (
        f'<a href="{escape(page.parent_url)}">parent run in MLflow</a>' if page.parent_url else ""
    )
    return PAGE.substitute(
        title=escape(page.name), css=CSS, index=INDEX, parent=parent, body="\n".join(parts)
    )


def index_html(pages: list[ExperimentPage]) -> str:
    """The index over the experiments' pages (relative links)."""
    items = []
    for page in pages:
        done = sum(run.status == "FINISHED" for run in page.runs)
        items.append(
            f'<tr><td><a href="{escape(page_file(page.name))}">{escape(page.name)}</a></td>'
            f"<td>{escape(page.report.title)}</td>"
            f'<td class="num">{done}/{len(page.runs)}</td></tr>'
        )
    body = (
        '<h1>Experiments</h1><table data-table="index"><thead><tr><th>experiment</th>'
        f"<th>report</th><th>finished runs</th></tr></thead><tbody>{''.join(items)}"
        "</tbody></table>"
    )
    return PAGE.substitute(title="Experiments", css=CSS, index=INDEX, parent="", body=body)


def page_file(name: str) -> str:
    """An experiment's page file name (its name made safe for a path)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) + ".html"


def write_pages(pages: list[ExperimentPage], out: Path) -> list[Path]:
    """Each experiment's page and the index, into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for page in pages:
        paths.append(out / page_file(page.name))
        paths[-1].write_text(experiment_html(page), encoding="utf-8")
    paths.append(out / INDEX)
    paths[-1].write_text(index_html(pages), encoding="utf-8")
    return paths
