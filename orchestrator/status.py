"""``orchestrate status``: where an experiment stands against the plan of its latest invocation.

``orchestrate run`` stores its plan on the parent run it starts (the artifact ``plan.json``: the
run keys of the trials it planned, and per sampled template how many samples): ``status`` counts
the trials of that plan only, so runs of an earlier grid, preset or seed list never inflate
"done". A parent from before plans were stored falls back to its ``n_trials`` param and every
trial of the experiment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

import pandas as pd

#: The plan of an invocation, an artifact of its parent run.
PLAN_ARTIFACT = "plan.json"
COUNTED = ("FINISHED", "RUNNING", "FAILED")


def plan_file(run_keys: Iterable[str], samples: Mapping[str, int]) -> bytes:
    """The ``plan.json`` of an invocation: its trials' run keys and, per sampling template run
    key, the number of samples it draws."""
    plan = {"run_keys": sorted(run_keys), "samples": {k: int(n) for k, n in samples.items()}}
    return json.dumps(plan, sort_keys=True).encode()


@dataclass(frozen=True)
class ExperimentStatus:
    experiment: str
    preset: str
    trials: int
    done: int
    running: int
    failed: int
    missing: int

    def to_dict(self) -> dict:
        return asdict(self)


def _latest_per_key(children: pd.DataFrame) -> pd.DataFrame:
    if children.empty or "tags.run_key" not in children:
        return pd.DataFrame(columns=["status"])
    ordered = children.sort_values("start_time")
    return ordered.drop_duplicates("tags.run_key", keep="last")


def _counts(runs: pd.DataFrame) -> dict[str, int]:
    found = runs["status"].value_counts() if len(runs) else {}
    return {s: int(found.get(s, 0)) for s in COUNTED}


def _planned(trials: pd.DataFrame, plan: dict) -> tuple[int, dict[str, int]]:
    """(planned trials, counts) of the trials a plan names, its samples capped at their number."""
    keys = set(plan.get("run_keys", []))
    samples = dict(plan.get("samples", {}))
    counts = _counts(trials[trials["tags.run_key"].isin(keys)] if len(trials) else trials)
    if samples and len(trials) and "params.template_key" in trials:
        for template, n in samples.items():
            drawn = _counts(trials[trials["params.template_key"] == template])
            left = int(n)
            for status in COUNTED:  # finished samples first: a failed draw is redrawn
                took = min(drawn[status], left)
                counts[status] += took
                left -= took
    return len(keys) + sum(int(n) for n in samples.values()), counts


def experiment_status(
    name: str,
    parents: pd.DataFrame,
    children: pd.DataFrame,
    spec: dict | None,
    plan_of: Callable[[str], dict | None],
) -> ExperimentStatus:
    """The experiment's counts against its latest parent run's plan (see the module doc)."""
    last = parents.sort_values("start_time").iloc[-1] if not parents.empty else {}
    preset = (spec or {}).get("preset") or last.get("tags.preset")
    trials = _latest_per_key(children)
    plan = plan_of(str(last["run_id"])) if len(parents) else None
    if plan is not None:
        total, counts = _planned(trials, plan)
    else:
        raw = last.get("tags.n_trials")  # a tag: a sweep's parent is reused when it grows
        raw = raw if isinstance(raw, str) else last.get("params.n_trials")
        total, counts = int(raw or 0), _counts(trials)
    done, running, failed = (counts[s] for s in COUNTED)
    return ExperimentStatus(
        name,
        preset if isinstance(preset, str) else "?",
        total,
        done,
        running,
        failed,
        max(total - done - running - failed, 0),
    )
