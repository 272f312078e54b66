"""Report tables from a runs frame shaped like MLflow's (no store needed), with and without the
runs' per-video scores (intervals, paired differences against the reference row, RI)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from orchestrator.protocol_report import protocol_table
from orchestrator.report import (
    experiment_report,
    publish,
    render,
    render_report,
    summary_files,
    summary_table,
)
from orchestrator.report_stats import RunStats
from protocols.metrics import compute_metrics

CELL = re.compile(r"^\d+\.\d ± \d+\.\d \[\d+\.\d, \d+\.\d\]$")


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
    assert table.loc[0, "ACER (%)"] == "30.0 ± 14.1"  # mean 0.3, sample std 0.1414; no scores
    assert table.loc[1, "ACER (%)"] == "10.0 ± 0.0"
    assert list(table["trials"]) == [2, 2] and list(table["failed"]) == [0, 1]
    assert "no intervals" in rep.note and not any(c.startswith("Δ") for c in table.columns)
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


# --- with per-video scores ------------------------------------------------------------------


def scores(seed: int, shift: float, n_subjects: int = 20, subjects: bool = True) -> pd.DataFrame:
    """One trial's scores.parquet: dev and test, 2 live + 4 attack videos per test subject,
    a subject effect shared by the subject's videos; ``shift`` raises the attacks' scores."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("dev", 10), ("test", n_subjects)):
        for s in range(n):
            effect = rng.normal(0, 0.5)
            for v in range(6):
                label = int(v < 2)
                rows.append(
                    {
                        "video_id": f"{split}{s}_{v}",
                        "score": rng.normal(1.0 if label else -1.0 + shift, 1.0) + effect,
                        "label": label,
                        "pai": "live" if label else ("print" if v % 2 else "display"),
                        "split": split,
                        "subject": f"{split}{s}",
                    }
                )
    df = pd.DataFrame(rows)
    return df if subjects else df.drop(columns="subject")


def child(run_id: str, params: dict, frame: pd.DataFrame, **tags: str) -> dict:
    """A finished child run whose metrics are what the workload logs for ``frame``."""
    test, dev = frame[frame.split == "test"], frame[frame.split == "dev"]
    m = compute_metrics(test, dev, "dev_eer")
    row = {"run_id": run_id, "status": "FINISHED", "start_time": 2, "tags.preset": "quick"}
    row.update({f"params.{k}": str(v) for k, v in params.items()})
    row.update({f"metrics.test_{k}": m[k] for k in ("apcer", "bpcer", "acer", "hter", "auc")})
    row["metrics.test_eer"] = m["eer"]
    row["metrics.threshold"] = m["threshold"]
    row.update({f"tags.{k}": v for k, v in tags.items()})
    return row


def store(rows: list[tuple[dict, pd.DataFrame]]) -> tuple[pd.DataFrame, dict]:
    return pd.DataFrame([r for r, _ in rows]), {r["run_id"]: f for r, f in rows}


def ablation(subjects: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """θ = 0 (weak), θ = 0.5 (as weak: a twin), θ = 0.7 (strong); three seeds each."""
    spec = {"protocol": "oulu_npu_p1", "grid": {"theta": [0.0, 0.5, 0.7]}, "report": "ablation"}
    spec["preset"] = "quick"
    parents = pd.DataFrame([{"run_id": "p", "start_time": 1, "params.spec": json.dumps(spec)}])
    rows = []
    for theta, shift in ((0.0, 1.5), (0.5, 1.5), (0.7, 0.0)):
        for seed in range(3):
            frame = scores(100 * seed + int(10 * theta), shift, subjects=subjects)
            params = {"theta": theta, "seed": seed}
            rows.append((child(f"t{theta}s{seed}", params, frame, fold="p1"), frame))
    children, frames = store(rows)
    return parents, children, frames


def test_ablation_cells_carry_intervals_and_differences_against_theta_zero() -> None:
    parents, children, frames = ablation()
    rep = experiment_report("ablation_cdc_theta", parents, children, frames.get, 500)
    table = rep.table.set_index("theta")
    assert all(CELL.match(c) for c in table["ACER (%)"]), table["ACER (%)"]
    delta = table["ΔACER vs θ=0"]
    assert delta[0.0] == "ref."
    assert delta[0.7].endswith(" *") and delta[0.7].startswith("-")
    assert not delta[0.5].endswith("*")
    assert set(table["test units"]) == {"3 seeds × 20 subjects"}
    assert "n = 3 seeds × 20 test subjects" in rep.title
    assert "bootstrap" in rep.note and "θ=0" in rep.note and "paired" in rep.note
    text = render_report(rep, "md")
    assert "ΔACER vs θ=0" in text and text.endswith(rep.note)
    assert "\\Delta" in render_report(rep, "latex") and "\\theta" in render_report(rep, "latex")
    # every printed number is in the statistics, as fractions; ΔAPCER/ΔBPCER recorded too
    stats = rep.stats
    est = stats[stats.statistic == "estimate"]
    assert len(est) == 9 and est.estimate.between(0, 1).all()
    diffs = stats[stats.statistic == "difference vs θ=0"]
    assert set(diffs.metric) == {"apcer", "bpcer", "acer"} and len(diffs) == 6
    marked = diffs[diffs.metric == "acer"].set_index("row")["marked"]
    assert marked["θ=0.7"] and not marked["θ=0.5"]
    row = est[(est.row == "θ=0.7") & (est.metric == "acer")].iloc[0]
    logged = children[children["params.theta"] == "0.7"]["metrics.test_acer"].mean()
    assert row["mean"] == pytest.approx(logged)  # the cell's mean: MLflow's metrics
    assert row.estimate == pytest.approx(logged)  # the same number recomputed from the scores
    assert row.ci_low <= row.estimate <= row.ci_high
    assert (row.units_min, row.test_groups_min, row.test_group_kind) == (3, 20, "subjects")


def test_old_runs_without_subject_ids_resample_videos_and_say_so() -> None:
    parents, children, frames = ablation(subjects=False)
    rep = experiment_report("ablation_cdc_theta", parents, children, frames.get, 200)
    assert set(rep.table["test units"]) == {"3 seeds × 120 videos"}
    assert "videos resampled" in rep.note


def test_runs_without_scores_keep_mean_std() -> None:
    parents, children, frames = ablation()
    rep = experiment_report("ablation_cdc_theta", parents, children, lambda run_id: None, 200)
    assert rep.table.loc[0, "ACER (%)"].count("[") == 0
    assert set(rep.table["ΔACER vs θ=0"]) == {"ref.", "n/a"}


def test_variants_compare_with_the_first_variant() -> None:
    spec = {"protocol": "oulu_npu_p1", "grid": {"variant": ["S-Van", "S-CD"]}}
    spec.update(report="variants", preset="quick")
    parents = pd.DataFrame([{"run_id": "p", "start_time": 1, "params.spec": json.dumps(spec)}])
    rows = [
        (child(f"{v}{s}", {"variant": v, "seed": s}, f), f)
        for v, shift in (("S-CD", 0.0), ("S-Van", 1.5))
        for s in range(2)
        for f in [scores(10 * s + len(v), shift)]
    ]
    children, frames = store(rows)
    rep = experiment_report("nas_fas_space", parents, children, frames.get, 300)
    assert list(rep.table["variant"]) == ["S-Van", "S-CD"]
    assert list(rep.table["ΔACER vs S-Van"])[0] == "ref."
    assert "minus S-Van" in rep.note


def test_ri_table_has_ri_with_its_interval() -> None:
    spec = {"protocol": "oulu_npu_p1", "grid": {"variant": ["CD-FAS"]}, "report": "ri"}
    spec |= {"preset": "quick", "workload": "nas_search", "sampling": {"workload": "random_sample"}}
    parents = pd.DataFrame([{"run_id": "p", "start_time": 1, "params.spec": json.dumps(spec)}])
    rows = []
    for s in range(2):
        f = scores(s, 0.0)
        rows.append(
            (child(f"nas{s}", {"variant": "CD-FAS", "seed": s}, f, workload="nas_search"), f)
        )
    for i in range(4):  # random samples share the first seed: each sample is its own unit
        f = scores(50 + i, 1.5)
        drawn = {"variant": "CD-FAS", "seed": 0, "template_key": "k"}  # as the runner logs it
        row = child(f"rnd{i}", drawn, f, workload="random_sample")
        rows.append((row, f))
    children, frames = store(rows)
    rep = experiment_report("ri_random_sampling", parents, children, frames.get, 500)
    row = rep.table.iloc[0]
    assert CELL.match(row["ACER NAS (%)"]) and CELL.match(row["ACER random (%)"])
    ri = row["_ri"]
    nas = children[children["tags.workload"] == "nas_search"]["metrics.test_acer"].mean()
    rnd = children[children["tags.workload"] == "random_sample"]["metrics.test_acer"].mean()
    assert ri == pytest.approx(100 * (rnd - nas) / rnd)
    assert row["RI (%)"].startswith(f"{ri:.1f} [") and row["RI (%)"].endswith(" *")
    assert row["samples"] == 4 and row["test units"] == "2 seeds × 20 subjects"
    stats = rep.stats
    assert "relative improvement (%)" in set(stats.statistic)
    assert rep.figure[:4] == b"\x89PNG"


def test_protocol_tables_average_folds_and_compare_networks() -> None:
    rows = []
    for net, shift in (("cdcn", 1.5), ("cdcn_pp", 0.0)):
        for fold in ("p1", "p3_1", "p3_2"):
            for s in range(2):
                f = scores(hash((net, fold, s)) % 1000, shift)
                rows.append(
                    (child(f"{net}{fold}{s}", {"network": net, "seed": s}, f, fold=fold), f)
                )
    children, frames = store(rows)
    stats = RunStats(frames.get, 300)
    table = protocol_table("oulu_npu", children, stats, ["cdcn", "cdcn_pp"]).set_index(
        ["Prot.", "Method"]
    )
    assert all(CELL.match(c) for c in table["ACER (%)"])
    assert table.loc[("P3", "cdcn"), "test units"] == "2 folds × 2 seeds × 20 subjects"
    assert table.loc[("P1", "cdcn"), "ΔACER vs cdcn"] == "ref."
    assert table.loc[("P3", "cdcn_pp"), "ΔACER vs cdcn"].endswith(" *")
    lodo = protocol_table("ocim_lodo", children.assign(**{"tags.fold": "CIM_to_O"}), stats)
    assert "ΔAvg. HTER vs cdcn" in lodo and CELL.match(lodo.loc[0, "CIM_to_O AUC (%)"])
    siwm = protocol_table("siwm_loto", children.assign(**{"tags.fold": "replay"}), stats)
    eer = siwm[(siwm.Method == "cdcn_pp") & (siwm.Metric == "EER (%)")].iloc[0]
    assert CELL.match(eer["replay"]) and eer["Δmean vs cdcn"].endswith("*")


def test_summary_files_and_publish_to_the_parent_run() -> None:
    parents, children, frames = ablation()
    rep = experiment_report("ablation_cdc_theta", parents, children, frames.get, 200)
    files = summary_files(rep)
    assert {"table.md", "table.csv", "statistics.csv", "statistics.json", "acer_vs_theta.png"} <= (
        set(files)
    )
    payload = json.loads(files["statistics.json"])
    assert payload["note"] == rep.note and len(payload["rows"]) == len(rep.stats)
    assert pd.read_csv(pd.io.common.BytesIO(files["statistics.csv"])).shape[0] == len(rep.stats)

    class FakeTracker:
        def log_summary(self, run_id, files, description):
            self.logged = (run_id, set(files), description)

    tracker = FakeTracker()
    publish(tracker, "parent", rep)
    run_id, names, description = tracker.logged
    assert run_id == "parent" and "statistics.json" in names
    assert rep.title in description and "ΔACER" in description


def test_threshold_falls_back_to_the_dev_eer_when_not_logged() -> None:
    parents, children, frames = ablation()
    rep = experiment_report("ablation_cdc_theta", parents, children, frames.get, 200)
    legacy = children.drop(columns="metrics.threshold")
    again = experiment_report("ablation_cdc_theta", parents, legacy, frames.get, 200)
    assert list(again.table["ACER (%)"]) == list(rep.table["ACER (%)"])


def test_few_test_subjects_are_flagged_and_never_marked() -> None:
    """The synthetic smoke/quick data have 2-4 test subjects: intervals get a dagger, no star."""
    rows = []
    for theta, shift in ((0.0, 2.5), (0.7, 0.0)):
        f = scores(int(10 * theta), shift, n_subjects=4)
        rows.append((child(f"t{theta}", {"theta": theta, "seed": 0}, f), f))
    children, frames = store(rows)
    table = summary_table(children, "theta", stats=RunStats(frames.get, 300))
    assert table.loc[1, "ACER (%)"].endswith("]†")
    assert not table.loc[1, "ΔACER vs θ=0"].endswith("*")
    note = RunStats(frames.get, 300)
    summary_table(children, "theta", stats=note)
    assert "†" in note.note("θ=0") and "One seed" in note.note("θ=0")


def test_unusable_scores_leave_that_run_out_of_the_intervals() -> None:
    parents, children, frames = ablation()
    frames["t0.7s0"] = frames["t0.7s0"].assign(label=1)  # one class: no metric defined
    rep = experiment_report("ablation_cdc_theta", parents, children, frames.get, 200)
    row = rep.stats[(rep.stats.row == "θ=0.7") & (rep.stats.statistic == "estimate")].iloc[0]
    assert row.units_min == 2 and CELL.match(rep.table.loc[2, "ACER (%)"])


def test_a_trial_finished_twice_counts_once_the_newest() -> None:
    """The same θ and seed finished under two run keys (run again after a code change): the
    table shows one trial per seed, the newest, not two seeds."""
    parents, children = _runs()
    children = children.assign(**{"params.seed": [0, 1, 0, 1, None, 0]})
    again = children.iloc[[0]].assign(run_id="again", start_time=5, **{"metrics.test_acer": 0.6})
    table = experiment_report("ablation_cdc_theta", parents, pd.concat([children, again])).table
    assert list(table["trials"]) == [2, 2] and list(table["failed"]) == [0, 1]
    assert table.loc[0, "ACER (%)"] == "50.0 ± 14.1"  # seeds 0 and 1: 0.6 (the newest) and 0.4
