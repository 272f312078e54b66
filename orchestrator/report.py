"""Paper-shaped tables and figures from what MLflow holds (runs -> pandas -> md/csv/latex, PNG).

Reports read MLflow only: the spec of an experiment comes back from its latest parent run (its
``spec.json``, else for older runs its ``spec`` param), the numbers from its finished child runs;
failed trials are counted, never dropped. ``publish`` (the summary on a sweep's parent run) is
for ``orchestrate run`` alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from orchestrator.protocol_report import policy_note, protocol_table
from orchestrator.report_figures import SYMBOLS, ablation_figure, ri_figure
from orchestrator.report_formats import FORMAT_EXTENSIONS, FORMATS
from orchestrator.report_stats import COST_COLUMNS, RunStats, ScoreSource, cell_text, delta_text
from orchestrator.uncertainty import Interval
from protocols.metrics import summarize

ABLATION_METRICS = ("apcer", "bpcer", "acer")
MAX_DESCRIPTION = 4900  # the tracker cuts tags at 5000 characters


@dataclass
class Report:
    experiment: str
    title: str
    table: pd.DataFrame
    figure: bytes | None = None
    figure_name: str | None = None
    note: str = ""  # the footnote: what cells and intervals are, how many seeds and subjects
    stats: pd.DataFrame | None = None  # every printed statistic, long form (fractions)


def latest_spec(
    parents: pd.DataFrame, spec_of: Callable[[str], dict | None] | None = None
) -> dict | None:
    """The latest parent run's spec: ``spec_of(run_id)`` (its full ``spec.json``), else its
    ``spec`` param if that parses (a param cut at MLflow's limit does not)."""
    if parents.empty:
        return None
    last = parents.sort_values("start_time").iloc[-1]
    found = spec_of(str(last["run_id"])) if spec_of is not None else None
    try:
        found = found if found is not None else json.loads(last.get("params.spec"))
    except (TypeError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _values(runs: pd.DataFrame, metric: str) -> list[float]:
    return runs.get(f"metrics.test_{metric}", pd.Series(dtype=float)).dropna().tolist()


def _row_label(by: str, value: object) -> str:
    return f"{SYMBOLS.get(by, by)}={value:g}" if isinstance(value, float) else str(value)


def _bounds(iv: Interval | None) -> tuple[float, float]:
    return (iv.low, iv.high) if iv is not None else (float("nan"), float("nan"))


def summary_table(
    children: pd.DataFrame,
    by: str,
    order: list | None = None,
    numeric: bool = True,
    stats: RunStats | None = None,
) -> pd.DataFrame:
    """One row per value of param ``by``: APCER/BPCER/ACER mean ± std (%) over the finished
    trials (seeds, folds) with a bootstrap interval, model size where recorded, how many trials
    failed; with intervals, ACER against the reference row (``0`` if swept, else the first)."""
    col = f"params.{by}"
    if children.empty or col not in children:
        return pd.DataFrame()
    stats = stats or RunStats(None)
    keys = children[col].astype(float) if numeric else children[col]
    groups = dict(list(children.groupby(keys, sort=False)))
    rows = []
    for value, group in groups.items():
        ok = group[group["status"] == "FINISHED"]
        label = _row_label(by, value)
        row: dict[str, object] = {by: value}
        for metric in ABLATION_METRICS:
            values = _values(ok, metric)
            mean, std = summarize(values) if values else (float("nan"), float("nan"))
            row[f"{metric.upper()} (%)"], iv = stats.cell(ok, metric, label, mean, std, len(values))
            row[f"_{metric}_mean"], row[f"_{metric}_std"] = mean, std
            row[f"_{metric}_lo"], row[f"_{metric}_hi"] = _bounds(iv)
        for metric, name, scale in COST_COLUMNS:
            values = ok.get(f"metrics.{metric}", pd.Series(dtype=float)).dropna()
            if len(values):
                row[name] = f"{values.mean() * scale:.3f}"
        row["trials"] = len(ok)
        row["failed"] = int((group["status"] == "FAILED").sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    if order is not None:
        rank = {v: i for i, v in enumerate(order)}
        table = table.sort_values(by, key=lambda c: c.map(rank)).reset_index(drop=True)
    else:
        table = table.sort_values(by).reset_index(drop=True)
    if stats.enabled and len(table):
        ref = reference_value(list(table[by]), numeric)
        table.attrs["reference"] = _row_label(by, ref)
        ref_runs = groups[ref]
        for metric in ABLATION_METRICS:
            name = f"Δ{metric.upper()} vs {_row_label(by, ref)}"
            table[name] = [
                stats.delta(groups[v], ref_runs, metric, _row_label(by, v), _row_label(by, ref))
                if v != ref
                else "ref."
                for v in table[by]
            ]
            if metric != "acer":  # recorded for the artifact; the table shows ΔACER only
                table = table.drop(columns=name)
        table["test units"] = [stats.units(groups[v]) for v in table[by]]
    return table


def reference_value(values: list, numeric: bool) -> object:
    """The row every other row is compared with: 0 of a swept number (θ = 0 is DepthNet,
    γ = 0 plain max pooling), else the first in spec order (the vanilla space, plain NAS)."""
    if numeric and 0.0 in values:
        return 0.0
    return values[0]


def relative_improvement(error_nas: float, error_random: float) -> float:
    """RI for an error metric: 100 (E_random - E_nas) / E_random; positive: NAS beats random
    (the error form of Yang et al.'s relative improvement, "NAS evaluation is frustratingly hard")."""
    if not error_random > 0:
        return float("nan")
    return 100.0 * (error_random - error_nas) / error_random


def ri_table(
    children: pd.DataFrame,
    order: list,
    workloads: tuple[str, str],
    stats: RunStats | None = None,
) -> pd.DataFrame:
    """Per space: the NAS trials' ACER, the random samples' ACER (mean ± std [CI]) and RI with
    its interval (NAS seeds and random samples resampled, test subjects shared). ``workloads``:
    the spec's search workload and its sampling workload (run tag ``workload``)."""
    need = {"params.variant", "tags.workload", "metrics.test_acer"}
    if children.empty or not need <= set(children.columns):
        return pd.DataFrame()
    stats = stats or RunStats(None)
    ok = children[children["status"] == "FINISHED"]
    rows = []
    for space in order:
        mine = ok[ok["params.variant"] == space]
        nas_runs = mine[mine["tags.workload"] == workloads[0]]
        rnd_runs = mine[mine["tags.workload"] == workloads[1]]
        nas, rnd = _values(nas_runs, "acer"), _values(rnd_runs, "acer")
        if not nas and not rnd:
            continue
        nas_mean, nas_std = summarize(nas) if nas else (float("nan"), float("nan"))
        rnd_mean, rnd_std = summarize(rnd) if rnd else (float("nan"), float("nan"))
        nas_text, nas_iv = stats.cell(nas_runs, "acer", f"{space} NAS", nas_mean, nas_std, len(nas))
        rnd_iv = stats.estimate_samples(rnd_runs, "acer", f"{space} random", (rnd_mean, rnd_std))
        ri_iv = stats.ri(nas_runs, rnd_runs, "acer", space)
        ri = relative_improvement(nas_mean, rnd_mean)
        rows.append(
            {
                "space": space,
                "ACER NAS (%)": nas_text,
                "ACER random (%)": cell_text(rnd_mean, rnd_std, rnd_iv, len(rnd)),
                "samples": len(rnd),
                "RI (%)": delta_text(ri_iv, scale=1.0) if ri_iv else f"{ri:.1f}",
                "test units": stats.units(nas_runs),
                "failed": int(
                    (children[children["params.variant"] == space]["status"] == "FAILED").sum()
                ),
                "_nas": nas_mean,
                "_nas_lo": _bounds(nas_iv)[0],
                "_nas_hi": _bounds(nas_iv)[1],
                "_rnd": rnd_mean,
                "_rnd_std": rnd_std,
                "_rnd_lo": _bounds(rnd_iv)[0],
                "_rnd_hi": _bounds(rnd_iv)[1],
                "_ri": ri,
            }
        )
    table = pd.DataFrame(rows)
    return table if stats.enabled or table.empty else table.drop(columns="test units")


def public(table: pd.DataFrame) -> pd.DataFrame:
    return table[[c for c in table.columns if not str(c).startswith("_")]]


_LATEX = {"±": r"$\pm$", "%": r"\%", "Δ": r"$\Delta$", "θ": r"$\theta$", "γ": r"$\gamma$"}
_LATEX.update({"×": r"$\times$", "–": "--"})


def _latex(text: str) -> str:
    for char, command in _LATEX.items():
        text = text.replace(char, command)
    return text


def table_cells(table: pd.DataFrame) -> list[list[str]]:
    """The header and the rows of a table's public columns, each cell as the tables print it."""
    table = public(table)
    return [[str(c) for c in table.columns]] + [
        [f"{v:g}" if isinstance(v, float) else str(v) for v in row]
        for row in table.itertuples(index=False)
    ]


def render(table: pd.DataFrame, fmt: str) -> str:
    """Markdown (default), csv or latex text of a table's public columns."""
    table = public(table)
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "latex":
        body = table.astype(str).apply(lambda c: c.map(_latex))
        body.columns = [_latex(str(c)) for c in body.columns]
        return body.to_latex(index=False, escape=False)
    if fmt != "md":
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    cells = table_cells(table)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def render_report(report: Report, fmt: str) -> str:
    """The table with its footnote (a comment in latex; csv keeps the bare table)."""
    text = render(report.table, fmt)
    if not report.note or fmt == "csv":
        return text
    if fmt == "latex":
        return text + "% " + report.note
    return f"{text}\n\n{report.note}"


def _scope(stats: RunStats) -> str:
    """How many seeds and test subjects stand behind the table ("" without scores)."""
    return f"n = {stats.scope()}" if stats.scope() else ""


@dataclass
class _Built:
    """What a report kind builds from the runs (``head``: the title before the scope)."""

    table: pd.DataFrame
    head: str
    figure: bytes | None = None
    figure_name: str | None = None
    comparison: str | None = None
    spread: str = "seeds"


def _ablation(spec: dict, children: pd.DataFrame, stats: RunStats, head: str) -> _Built | None:
    grid = spec.get("grid", {})
    if not grid:
        return None
    param = next(iter(grid))
    table = summary_table(children, param, stats=stats)
    figure = None if table.empty else ablation_figure(table, param, f"{head}\n{_scope(stats)}")
    return _Built(table, head, figure, f"acer_vs_{param}.png")


def _variants(spec: dict, children: pd.DataFrame, stats: RunStats, head: str) -> _Built | None:
    order = spec.get("grid", {}).get("variant")
    if order is None:
        return None
    return _Built(summary_table(children, "variant", list(order), False, stats), head)


def _ri(spec: dict, children: pd.DataFrame, stats: RunStats, head: str) -> _Built | None:
    order = spec.get("grid", {}).get("variant")
    sampling = spec.get("sampling") or {}
    if order is None:
        return None
    workloads = (spec.get("workload", ""), sampling.get("workload", ""))
    table = ri_table(children, list(order), workloads, stats)
    head = f"{spec.get('name', '')}: NAS vs random sampling, {spec.get('preset', '')} preset"
    figure = None if table.empty else ri_figure(table, f"{head}\n{_scope(stats)}")
    comparison = (
        "RI = 100 (E_random - E_NAS) / E_random: NAS seeds and random samples resampled"
        " independently, the test subjects shared; * = interval excludes 0."
        " ACER random: mean ± std over the samples."
    )
    return _Built(table, head, figure, "ri.png", comparison)


def _protocol(spec: dict, children: pd.DataFrame, stats: RunStats, head: str) -> _Built | None:
    networks = list(spec.get("grid", {}).get("network", []))
    table = protocol_table(spec["protocol"], children, stats, networks)
    spread = "the finished trials (Avg./mean: over folds)"
    return _Built(table, f"{head}; {policy_note(children)}", spread=spread)


#: Report kinds (``ExperimentSpec.report``) -> the builder of their table and figure.
REPORT_KINDS: dict[str, Callable[[dict, pd.DataFrame, RunStats, str], _Built | None]] = {
    "ablation": _ablation,
    "variants": _variants,
    "ri": _ri,
    "protocol": _protocol,
}


def reported_runs(spec: dict, children: pd.DataFrame) -> pd.DataFrame:
    """The child runs a report covers: a store may hold several presets, the latest is shown;
    of a trial finished more than once (the same fold and params, e.g. run again after a code
    change gave it a new run key), only the newest counts: one seed is never two."""
    if "tags.preset" in children:
        children = children[children["tags.preset"] == spec.get("preset")]
    if "params.seed" not in children or "status" not in children:
        return children
    children = children.reset_index(drop=True)
    done = children[(children["status"] == "FINISHED") & children["params.seed"].notna()]
    if "params.template_key" in done:  # a sampler's draws are each their own trial
        done = done[done["params.template_key"].isna()]
    tags = ("tags.fold", "tags.workload")
    identity = [c for c in children.columns if c.startswith("params.") or c in tags]
    order = done.sort_values("start_time") if "start_time" in done else done
    repeated = order[order.duplicated(subset=identity, keep="last")].index
    return children.drop(index=repeated)


def experiment_report(
    name: str,
    parents: pd.DataFrame,
    children: pd.DataFrame,
    scores: ScoreSource | None = None,
    n_resamples: int = 2000,
    spec_of: Callable[[str], dict | None] | None = None,
) -> Report | None:
    """The report an experiment's spec asks for, or None when MLflow holds nothing usable.

    ``scores`` reads a child run's per-video scores; without it cells carry no intervals.
    ``spec_of`` reads a parent run's full spec (see ``latest_spec``)."""
    spec = latest_spec(parents, spec_of)
    if spec is None or children.empty or spec.get("report") not in REPORT_KINDS:
        return None
    children = reported_runs(spec, children)
    stats = RunStats(scores, n_resamples)
    head = f"{name}: {spec.get('protocol', '')}, {spec.get('preset', '')} preset"
    built = REPORT_KINDS[spec["report"]]({**spec, "name": name}, children, stats, head)
    if built is None or built.table.empty:
        return None
    scope = _scope(stats)
    title = f"{built.head}; {scope}" if scope else built.head
    note = stats.note(built.table.attrs.get("reference"), built.spread, built.comparison)
    return Report(name, title, built.table, built.figure, built.figure_name, note, stats.frame())


def write_report(report: Report, fmt: str, out: Path) -> list[Path]:
    """The table (with its footnote), its figure, and the statistics behind it (csv, json)."""
    out.mkdir(parents=True, exist_ok=True)
    ext = FORMAT_EXTENSIONS[fmt]
    paths = [out / f"{report.experiment}.{ext}"]
    paths[0].write_text(render_report(report, fmt) + "\n")
    files = summary_files(report)
    for name in ("statistics.csv", "statistics.json"):
        if name in files:
            paths.append(out / f"{report.experiment}_{name}")
            paths[-1].write_bytes(files[name])
    if report.figure is not None and report.figure_name:
        paths.append(out / f"{report.experiment}_{report.figure_name}")
        paths[-1].write_bytes(report.figure)
    return paths


def summary_files(report: Report) -> dict[str, bytes]:
    """What a sweep's parent run carries, readable without our CLI: the table (md, csv), every
    printed statistic with its interval (csv, json) and the figure."""
    files = {
        "table.md": (f"{report.title}\n\n{render_report(report, 'md')}\n").encode(),
        "table.csv": render(report.table, "csv").encode(),
    }
    if report.stats is not None and not report.stats.empty:
        files["statistics.csv"] = report.stats.to_csv(index=False).encode()
        records = report.stats.astype(object).where(report.stats.notna(), None)
        payload = {"title": report.title, "note": report.note, "rows": records.to_dict("records")}
        files["statistics.json"] = json.dumps(payload, indent=1, default=float).encode()
    if report.figure is not None and report.figure_name:
        files[report.figure_name] = report.figure
    return files


def publish(tracker, run_id: str, report: Report) -> None:
    """Log the report on a sweep's parent run (``tracker``: ``orchestrator.tracking.runs.Tracker``)."""
    description = f"**{report.title}**\n\n{render_report(report, 'md')}"
    if len(description) > MAX_DESCRIPTION:
        description = f"**{report.title}**\n\n{report.note}\n\nFull table: summary/table.md"
    tracker.log_summary(run_id, summary_files(report), description)
