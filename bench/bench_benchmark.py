"""The embedded benchmark's card: how hard each protocol is, and whether a shortcut exists.

Calibration targets (issue: "results that mean something"), measured on the quick-size tree:

- DepthNet (CDCN with theta = 0) at the quick preset learns across sessions: OULU-NPU P1 test
  AUC >= 0.97 and ACER <= 8 %, seed std <= 3 points;
- protocol difficulty follows the real datasets: mean ACER P1 <= P2 <= P3 <= P4, and
  leave-one-dataset-out HTER well above intra-dataset ACER. P3 and P4 leave one phone out, and
  the six phones are not equally hard (the sharp phones' folds are the easiest): ``--all-folds``
  runs all six folds, whose mean (one seed each) is what the papers report; without it the card
  runs the first fold only;
- no global-statistics shortcut: a standardised logistic regression on global image statistics
  (per-channel mean and std of the frame and of the face box, brightness, face-box size and
  position, JPEG blockiness) trained on P1's train split scores test AUC <= 0.65.

Each trial calls the ``train_eval`` workload in-process (no Ray, no MLflow: the card measures the
benchmark, not the orchestrator) and saves its scores in ``--out`` (a re-run skips what is there,
and several card processes may share one folder, e.g. one per core). The card gives each protocol
its mean over folds of the mean over seeds with a 95 % interval (the report's bootstrap over seeds
and test subjects), and each ordering step (P2 - P1, P3 - P2, P4 - P3) its paired difference:
"holds" when the interval lies above zero, "reversed" below, "not resolved" across it.

Run: ``python bench/bench_benchmark.py [--seeds 3]`` (about 30 minutes on 2 cores with three
seeds; ``--protocols oulu_npu_p1`` for one row, ``--verbose`` for score quartiles per instrument,
``--set key=value`` to change the DepthNet recipe; ``--all-folds --seeds 2 --protocols
oulu_npu_p3,oulu_npu_p4`` for the papers' six-fold means, about 75 minutes of CPU;
``--summarize OUT`` prints the card of a folder of finished runs). The card also says where the
errors are: per protocol and instrument, the share of test videos misclassified at the run's
threshold. ``--train-instruments print1,print2`` trains (and sets the threshold) on live videos
and those instruments only, testing on all: whether a model finds attacks of a family it has not
seen.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.experiments import resolve_experiment  # noqa: E402
from orchestrator.report_stats import delta_text, interval_text  # noqa: E402
from orchestrator.uncertainty import Bootstrap, Trial, describe  # noqa: E402
from protocols.datasets import read_face_boxes  # noqa: E402
from protocols.protocols import PROTOCOLS, Fold  # noqa: E402
from synth import GENERATOR_VERSION, generate  # noqa: E402
from synth.camera import PHONES  # noqa: E402
from workloads.base import DataHandle  # noqa: E402
from workloads.params import parse  # noqa: E402
from workloads.train_eval import train_eval  # noqa: E402
from workloads.train_params import TrainEvalParams  # noqa: E402

#: (protocol, fold or None for the first) measured by the card, in the order of difficulty.
CARD = (
    ("oulu_npu_p1", None),
    ("oulu_npu_p2", None),
    ("oulu_npu_p3", None),
    ("oulu_npu_p4", None),
    ("ocim_lodo", "CIM_to_O"),
)
LODO_DATASETS = ("oulu_npu", "casia_mfsd", "replay_attack", "msu_mfsd")
PROBE_FRAMES = 3


def _jpeg_level(row: pd.Series) -> float:
    """The capturing phone's JPEG quality. A measured blockiness would be a texture statistic in
    disguise (halftone and screen lattices change it); the encoder's level is what is global."""
    return float(PHONES[int(row["device"])].jpeg_quality)


def global_features(row: pd.Series) -> np.ndarray:
    """18 global statistics of one video (mean over a few frames); no local texture."""
    cap = cv2.VideoCapture(str(row["path"]))
    frames = []
    while len(frames) < PROBE_FRAMES:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise RuntimeError(f"{row['path']}: no frame decoded")
    boxes = read_face_boxes(row["dataset"], row["annotation"]) if row["annotation"] else {}
    feats = []
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        x, y, bw, bh = boxes.get(i, next(iter(boxes.values()))) if boxes else (0, 0, w, h)
        x0, y0 = max(x, 0), max(y, 0)
        face = frame[y0 : y + bh, x0 : x + bw]
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        f = [
            *frame.reshape(-1, 3).mean(0),
            *frame.reshape(-1, 3).std(0),
            *face.reshape(-1, 3).mean(0),
            *face.reshape(-1, 3).std(0),
            grey.mean(),
            grey.std(),
            bw / w,
            (x + bw / 2) / w,
            (y + bh / 2) / h,
            _jpeg_level(row),
        ]
        feats.append(f)
    return np.mean(feats, axis=0)


def shortcut_probe(data_root: Path) -> dict[str, float]:
    """Logistic regression on global statistics: train on P1 train, AUC on P1 dev and test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fold = PROTOCOLS.get("oulu_npu_p1").folds(data_root)[0]
    xs = {s: np.stack([global_features(r) for _, r in getattr(fold, s).iterrows()]) for s in
          ("train", "dev", "test")}  # fmt: skip
    ys = {s: getattr(fold, s)["label"].to_numpy() for s in xs}
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    clf.fit(xs["train"], ys["train"])
    out = {f"probe_auc_{s}": float(roc_auc_score(ys[s], clf.decision_function(xs[s]))) for s in
           ("dev", "test")}  # fmt: skip
    # the single statistic most predictive on train, and how it transfers
    aucs = [roc_auc_score(ys["train"], xs["train"][:, j]) for j in range(xs["train"].shape[1])]
    j = int(np.argmax(np.abs(np.asarray(aucs) - 0.5)))
    out["best_single_train_auc"] = float(aucs[j])
    out["best_single_test_auc"] = float(roc_auc_score(ys["test"], xs["test"][:, j]))
    out["best_single_index"] = j
    return out


def quick_params(overrides: dict[str, str]) -> dict:
    """DepthNet (theta = 0) with the ablation's quick preset, plus ``--set`` overrides."""
    spec = resolve_experiment("ablation_cdc_theta", "quick")
    params = {**spec.params, "theta": 0.0}
    for key, value in overrides.items():
        params[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    return params


def pick_fold(protocol: str, fold: str | None, data_root: Path) -> Fold:
    """The protocol's fold named ``fold`` (None: its first)."""
    folds = PROTOCOLS.get(protocol).folds(data_root)
    return next(f for f in folds if f.name == fold) if fold else folds[0]


def restrict_training(fold: Fold, instruments: list[str]) -> Fold:
    """``fold`` with its train and dev splits reduced to live videos and ``instruments`` (the
    test split keeps every instrument): does a model find attacks it has never seen?"""
    unknown = sorted(set(instruments) - set(fold.train["instrument"]) - {"live"})
    if unknown:
        valid = sorted(set(fold.train["instrument"]) - {"live"})
        raise ValueError(
            f"--train-instruments: {unknown} not in {fold.name}'s train; valid: {valid}"
        )
    keep = ["live", *instruments]
    return dataclasses.replace(
        fold,
        train=fold.train[fold.train["instrument"].isin(keep)].reset_index(drop=True),
        dev=fold.dev[fold.dev["instrument"].isin(keep)].reset_index(drop=True),
    )


def run_trial(
    params: dict,
    data_root: Path,
    cache: Path,
    protocol: str,
    fold: str | None,
    verbose: bool,
    train_instruments: list[str] | None = None,
) -> tuple[dict, pd.DataFrame]:
    """One DepthNet training: its test metrics and its score table (every split)."""
    chosen = pick_fold(protocol, fold, data_root)
    rows = restrict_training(chosen, train_instruments) if train_instruments else None
    handle = DataHandle(data_root, protocol, chosen.name, cache, fold_rows=rows)
    epochs: list[dict] = []
    typed = parse(TrainEvalParams, params)
    result = train_eval(typed, handle, lambda metrics, *a: epochs.append(metrics))
    m = result.metrics
    dev = [e["dev_auc"] for e in epochs if "dev_auc" in e]
    if verbose:
        sc = result.scores
        print(sc.groupby(["split", "instrument"])["score"].describe()[["mean", "25%", "50%", "75%"]]
              .round(3).to_string(), f"threshold {m['threshold']:.3f}")  # fmt: skip
    return {"fold": chosen.name, "acer": m["test_acer"], "auc": m["test_auc"], "hter": m["test_hter"],
            "threshold": m["threshold"], "dev_auc": dev[-1] if dev else float("nan")}, result.scores  # fmt: skip


def run_name(protocol: str, fold: str, seed: int) -> str:
    return f"{protocol}__{fold}__seed{seed}"


def save_run(out: Path, row: dict, scores: pd.DataFrame) -> None:
    """A finished run: its scores, then its metrics (the JSON, written last, marks it done)."""
    name = run_name(row["protocol"], row["fold"], row["seed"])
    scores.to_parquet(out / f"{name}.parquet", index=False)
    tmp = out / f"{name}.json.tmp"
    tmp.write_text(json.dumps(row, indent=1))
    tmp.replace(out / f"{name}.json")


def load_runs(out: Path) -> list[tuple[dict, pd.DataFrame]]:
    """Every finished run in ``out`` (from any number of card processes)."""
    runs = []
    for path in sorted(out.glob("*.json")):
        row = json.loads(path.read_text())
        runs.append((row, pd.read_parquet(path.with_suffix(".parquet"))))
    return runs


def foreign_runs(out: Path, stamp: dict) -> list[str]:
    """Runs in ``out`` made on another data root, generator version or recipe than ``stamp``:
    resuming into that folder would mix them into one card."""
    key = json.dumps(stamp, sort_keys=True)
    return [
        run_name(r["protocol"], r["fold"], r["seed"])
        for r, _ in load_runs(out)
        if json.dumps({k: r.get(k) for k in stamp}, sort_keys=True) != key
    ]


def summarize(runs: list[tuple[dict, pd.DataFrame]], n_resamples: int = 2000):
    """The card (one row per protocol) and the ordering steps between consecutive protocols.

    Each cell is the mean over folds of the mean over seeds, and its 95 % interval is the
    report's two-way bootstrap (seeds within each fold x test subjects, shared by every
    protocol testing the same people, so a step's difference is paired by subject). The std is
    over folds for P3/P4 (the papers' mean +- std over six phones), over seeds otherwise.
    """
    boot = Bootstrap(n_resamples=n_resamples)
    trials: dict[str, list[Trial]] = {}
    for row, scores in runs:
        fold = f"{row['protocol']}/{row['fold']}"
        trial = Trial(fold, f"seed{row['seed']}", scores, float(row["threshold"]))
        trials.setdefault(row["protocol"], []).append(trial)
    order = [p for p, _ in CARD if p in trials]
    card = []
    for protocol in order:
        ts = trials[protocol]
        per_trial = pd.DataFrame(
            {
                "fold": [t.fold for t in ts],
                "acer": [boot.trial_replicates(t, "acer")[0] for t in ts],
            }
        )
        per_fold = per_trial.groupby("fold")["acer"].mean()
        spread = per_fold.std() if len(per_fold) > 1 else per_trial["acer"].std()
        acer, auc, hter = (boot.estimate(ts, m) for m in ("acer", "auc", "hter"))
        n = describe(ts)
        card.append({
            "protocol": protocol, "ACER %": f"{100 * acer.point:.1f} ± "
            + (f"{100 * spread:.1f}" if np.isfinite(spread) else "n/a (one run)"),
            "ACER 95% CI": interval_text(acer), "HTER %": round(100 * hter.point, 1),
            "AUC": f"{auc.point:.3f} [{auc.low:.3f}, {auc.high:.3f}]",
            "folds": n["folds"], "seeds": len({t.unit for t in ts}), "test subjects": n["groups"][1],
        })  # fmt: skip
    steps = []
    intra = [p for p in order if p.startswith("oulu_npu_p")]
    for easier, harder in zip(intra, intra[1:], strict=False):
        d = boot.difference(trials[harder], trials[easier], "acer")
        verdict = "not resolved" if not d.excludes_zero else "holds" if d.point > 0 else "reversed"
        steps.append({"step": f"{harder} - {easier}", "ACER difference": delta_text(d),
                      "ordering": verdict})  # fmt: skip
    return pd.DataFrame(card).set_index("protocol"), pd.DataFrame(steps)


def instrument_misses(runs: list[tuple[dict, pd.DataFrame]]) -> pd.DataFrame:
    """Where the errors are: per protocol (rows) and instrument (columns), the % of test videos
    on the wrong side of their run's threshold, averaged over the protocol's runs."""
    rows = []
    for row, scores in runs:
        test = scores[scores["split"] == "test"]
        live = test["label"] == 1
        wrong = np.where(live, test["score"] < row["threshold"], test["score"] >= row["threshold"])
        per = pd.Series(wrong, index=test.index).groupby(test["instrument"]).mean()
        rows.append({"protocol": row["protocol"], **(100 * per).to_dict()})
    table = pd.DataFrame(rows).groupby("protocol", sort=False).mean()
    order = ["live"] + sorted(c for c in table.columns if c != "live")
    return table[order].round(1)


def card_plan(
    ap: argparse.ArgumentParser, args: argparse.Namespace, root: Path
) -> list[tuple[str, str | None]]:
    """(protocol, fold) pairs to run: per card row, the ``--folds`` named among its folds, else
    every fold with ``--all-folds``, else its first fold (None: the protocol's first)."""
    wanted = args.protocols.split(",")
    unknown = sorted(set(wanted) - {p for p, _ in CARD})
    if unknown:
        ap.error(f"--protocols: {unknown} not on the card; valid: {[p for p, _ in CARD]}")
    chosen = set(args.folds.split(",")) if args.folds else set()
    plan, seen = [], set()
    for protocol, first in CARD:
        if protocol not in wanted:
            continue
        names = [f.name for f in PROTOCOLS.get(protocol).folds(root)] if first is None else []
        seen.update(names)
        picked = [name for name in names if name in chosen] or (names if args.all_folds else [])
        plan += [(protocol, name) for name in picked] or [(protocol, first)]
    if chosen - seen:
        ap.error(f"--folds: {sorted(chosen - seen)} not folds of {wanted}; valid: {sorted(seen)}")
    return plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, help="an existing quick-size tree (else generated)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--protocols", default=",".join(p for p, _ in CARD))
    ap.add_argument("--no-probe", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a trial gets 1 CPU)")
    ap.add_argument("--verbose", action="store_true", help="score quartiles per instrument")
    ap.add_argument(
        "--all-folds",
        action="store_true",
        help="every fold of P3 and P4 (the papers' mean over six phones), not the first",
    )
    ap.add_argument(
        "--train-instruments",
        metavar="LIST",
        help="train (and set the threshold) on live videos and these instruments only, e.g. "
        "print1,print2; test on every instrument",
    )
    ap.add_argument("--folds", help="comma-separated folds of P3/P4 to run (e.g. p3_5,p4_5)")
    ap.add_argument("--out", type=Path, help="folder of finished runs (resumed; else a new one)")
    ap.add_argument("--summarize", type=Path, metavar="OUT", help="print the card of OUT's runs")
    args = ap.parse_args()
    if args.summarize:
        if not args.summarize.is_dir():
            ap.error(f"--summarize: {args.summarize} is not a folder of card runs")
        print_card(args.summarize)
        return
    import torch

    torch.set_num_threads(args.threads)
    overrides = dict(s.split("=", 1) for s in args.set)
    params = quick_params(overrides)
    wanted = args.protocols.split(",")
    work = Path(tempfile.mkdtemp(prefix="fas-card-"))
    out = args.out or work / "runs"
    out.mkdir(parents=True, exist_ok=True)
    root = args.data_root
    if root is None:
        datasets = ["oulu_npu"] + (list(LODO_DATASETS[1:]) if "ocim_lodo" in wanted else [])
        t0 = time.perf_counter()
        root = generate(work / "data", "quick", datasets=datasets)
        print(f"generated quick tree ({', '.join(datasets)}) in {time.perf_counter() - t0:.0f} s")
    plan = card_plan(ap, args, root)
    print(f"generator version {GENERATOR_VERSION}; DepthNet quick params: "
          f"input {params['input_size']}, width {params['width']}, epochs {params['epochs']}, "
          f"frames/video {params['frames_per_video']}")  # fmt: skip
    kept = args.train_instruments.split(",") if args.train_instruments else None
    stamp = {"generator": GENERATOR_VERSION, "data_root": str(root), "params": params,
             "train_instruments": kept}  # fmt: skip
    if kept:
        for protocol, fold in plan:  # refuse unknown names before the probe and any training
            try:
                restrict_training(pick_fold(protocol, fold, root), kept)
            except ValueError as exc:
                ap.error(str(exc))
    if not args.no_probe:
        probe = shortcut_probe(root)
        print("shortcut probe (logistic regression on 18 global statistics, trained on P1 train):")
        print("  " + json.dumps({k: round(v, 3) for k, v in probe.items()}))
    foreign = foreign_runs(out, stamp)
    if foreign:
        ap.error(f"--out {out}: {len(foreign)} run(s) of another data root, generator or recipe "
                 f"(e.g. {foreign[0]}); use a new folder")  # fmt: skip
    print(f"runs saved in {out} (a re-run with --out {out} skips them; --summarize reads them)")
    for protocol, fold in plan:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            name = pick_fold(protocol, fold, root).name
            if (out / f"{run_name(protocol, name, seed)}.json").exists():
                continue
            t0 = time.perf_counter()
            r, scores = run_trial(
                {**params, "seed": seed}, root, work / "cache", protocol, fold, args.verbose, kept
            )
            r.update(protocol=protocol, seed=seed, seconds=time.perf_counter() - t0, **stamp)
            save_run(out, r, scores)
            print(f"  {protocol:12s} {r['fold']:10s} seed {seed}: ACER {100 * r['acer']:5.1f} % "
                  f"AUC {r['auc']:.3f} (dev {r['dev_auc']:.3f}) HTER {100 * r['hter']:5.1f} % ({r['seconds']:.0f} s)",
                  flush=True)  # fmt: skip
    print_card(out)


def print_card(out: Path) -> None:
    runs = load_runs(out)
    if not runs:
        print(f"no finished runs in {out}")
        return
    card, steps = summarize(runs)
    versions = sorted({str(r.get("generator", "?")) for r, _ in runs})
    print(f"\nbenchmark card (generator v{'/'.join(versions)}, DepthNet; {len(runs)} runs in "
          f"{out}):")  # fmt: skip
    print(card.to_string())
    print("\nwhere the errors are (% of test videos misclassified at the run's threshold; "
          "- where a protocol does not test an instrument):")  # fmt: skip
    print(instrument_misses(runs).to_string(na_rep="-"))
    if len(steps):
        print("\nprotocol ordering (harder minus easier, paired by test subject; * excludes 0):")
        print(steps.to_string(index=False))


if __name__ == "__main__":
    main()
