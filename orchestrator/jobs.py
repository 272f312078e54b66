"""Expand a spec into jobs: protocol folds x grid points x seeds, each with a run key.

The run key hashes everything that determines a result (experiment, workload, protocol, fold,
trial params with seed, data fingerprint, code version) and nothing that does not (preset name,
tracking URI, cluster address), so re-running a command finds the work it already did.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.specs import ExperimentSpec
from orchestrator.validation import canonical

CODE_VERSION_FALLBACK = "0+unknown"


#: The packages whose code computes results; a change in any of them changes every run key.
RESULT_PACKAGES = ("workloads", "search_spaces", "protocols")


@functools.cache
def code_version() -> str:
    """Package version plus a hash of the result-computing sources (not of reports or CLI), so
    a re-run after a change to training, data or metrics recomputes instead of reusing."""
    try:
        version = metadata.version("fas-nas-orchestrator")
    except metadata.PackageNotFoundError:
        version = CODE_VERSION_FALLBACK
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in RESULT_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:12]}"


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def stable_hash(obj: Any, n: int = 16) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def data_fingerprint(manifest: pd.DataFrame) -> str:
    """Hash of the videos a protocol reads (ids and byte sizes): a changed dataset changes keys."""
    sizes = []
    for row in manifest.sort_values(["dataset", "video_id"]).itertuples():
        try:
            size = os.path.getsize(row.path)
        except OSError:
            size = -1
        sizes.append((row.dataset, row.video_id, size))
    return stable_hash(sizes)


@dataclass(frozen=True)
class Job:
    run_key: str
    experiment: str
    workload: str
    protocol: str
    fold: str
    seed: int
    params: dict[str, Any]
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_key": self.run_key,
            "experiment": self.experiment,
            "workload": self.workload,
            "protocol": self.protocol,
            "fold": self.fold,
            "seed": self.seed,
            "params": self.params,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        return cls(**d)

    def with_sample(self, sample: dict[str, Any], index: str = "") -> Job:
        """This job as a template filled with a sampler's choices: its own params and run key."""
        params = {**self.params, **sample, "template_key": self.run_key}
        key = stable_hash({"template": self.run_key, "sample": sample})
        label = f"{self.label}_{index or key[:6]}"
        return Job(
            key, self.experiment, self.workload, self.protocol, self.fold, self.seed, params, label
        )


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand_jobs(spec: ExperimentSpec, folds: list[str], fingerprint: str) -> list[Job]:
    """One job per fold x grid point x seed, in a stable order. The spec is canonical first (a
    whole number given for a real param is that real number), so every caller, validated or not,
    gives a trial the same run key."""
    spec = canonical(spec)
    names = list(spec.grid)
    points = list(itertools.product(*(spec.grid[n] for n in names))) or [()]
    version = code_version()
    workers = int(spec.resources.get("workers", 1))
    jobs = []
    unknown = set(spec.grid.get("variant", ())) - set(spec.variants)
    if unknown:
        raise ValueError(
            f"{spec.name}: unknown variants {sorted(unknown)}; valid: {list(spec.variants)}"
        )
    for fold, point, seed in itertools.product(folds, points, spec.seeds):
        chosen = dict(zip(names, point, strict=True))
        bundle = spec.variants.get(chosen.get("variant", ""), {})
        params = {**spec.params, **bundle, **chosen, "seed": seed}
        payload = {
            "experiment": spec.name,
            "workload": spec.workload,
            "protocol": spec.protocol,
            "fold": fold,
            "params": params,
            "data": fingerprint,
            "code": version,
        }
        if workers > 1:  # data-parallel training is a different computation (shards, BN stats)
            payload["workers"] = workers
        key = stable_hash(payload)
        grid_label = ",".join(f"{n}={_fmt(v)}" for n, v in zip(names, point, strict=True))
        label = "_".join(x for x in (fold if len(folds) > 1 else "", grid_label, f"s{seed}") if x)
        jobs.append(Job(key, spec.name, spec.workload, spec.protocol, fold, seed, params, label))
    return jobs
