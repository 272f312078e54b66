"""Adding a workload is one module (a params dataclass, a run function, what frames it reads)
plus one registration line: the driver then validates a spec's params with the dataclass before
any work (a bad value refused, naming where it came from) and runs trials from their flat
configs. This file is such a module; ``WORKLOADS.add`` below is its one registration line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.jobs import expand_jobs
from orchestrator.specs import ExperimentSpec, SpecError
from orchestrator.validation import validate_spec
from workloads.base import (
    SCORE_COLUMNS,
    WORKLOADS,
    DataHandle,
    Report,
    WorkloadDef,
    WorkloadResult,
)
from workloads.params import TrialParams, integer, number, one_of, param
from workloads.pipeline import PipelineConfig

NAME = "contract_test_toy"


@dataclass(frozen=True, kw_only=True)
class ToyParams(TrialParams):
    steps: int = param(integer(1))
    rate: float = param(number(gt=0), 0.5)
    mode: str = param(one_of(("fast", "slow")), "fast")


def toy(params: ToyParams, data: DataHandle, report: Report) -> WorkloadResult:
    for step in range(1, params.steps + 1):
        report({"epoch": float(step), "rate": params.rate})
    info = {"mode": params.mode, "seed": params.seed}
    return WorkloadResult({"test_acer": 0.0}, pd.DataFrame(columns=SCORE_COLUMNS), info=info)


def toy_frames(params: ToyParams) -> PipelineConfig:
    return PipelineConfig(frames_per_video=params.steps, input_size=32, map_size=8)


WORKLOADS.add(NAME, WorkloadDef(toy, ToyParams, toy_frames))


def spec(**kw) -> ExperimentSpec:
    fields = {"params": {"steps": 2}, "grid": {"rate": (0.1, 0.2)}, **kw}
    return ExperimentSpec(name="toy", workload=NAME, protocol="oulu_npu_p1", **fields)


def test_a_good_spec_passes_and_its_trials_run_from_their_flat_configs(tmp_path: Path) -> None:
    good = validate_spec(spec(params={"steps": 2, "mode": "slow"}, seeds=(3,)))
    workload = WORKLOADS.get(NAME)
    data = DataHandle(tmp_path, "oulu_npu_p1", "p1", tmp_path / "cache")
    for job, rate in zip(expand_jobs(good, ["p1"], "d"), (0.1, 0.2), strict=True):
        reports: list[dict] = []
        result = workload.run_trial(job.params, data, reports.append)
        assert reports == [{"epoch": 1.0, "rate": rate}, {"epoch": 2.0, "rate": rate}]
        assert result.info == {"mode": "slow", "seed": 3}
        assert workload.data_config(workload.parse(job.params)).frames_per_video == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grid": {"rate": (0.1, -1.0)}}, "grid.rate=-1.0: expected a number > 0"),
        ({"params": {"steps": 2, "mode": "warp"}}, "mode='warp': expected one of fast, slow"),
        ({"params": {"steps": 0}}, "steps=0: expected an integer >= 1"),
        ({"params": {"steps": 2, "stpes": 3}}, "stpes: not a param of workload"),
        ({"params": {}}, "params: missing steps"),
        ({"params": {"steps": 2, "seed": 1}}, "seed: not a param of workload"),
        ({"variants": {"v": {"rate": 0}}, "grid": {"variant": ("v",)}}, "variants.v.rate=0"),
    ],
    ids=["grid_value", "choice", "range", "unknown", "required", "seed", "variant_bundle"],
)
def test_a_bad_value_is_refused_naming_where_it_came_from(change: dict, message: str) -> None:
    with pytest.raises(SpecError, match="^" + re.escape(message)):
        validate_spec(spec(**change))


def test_orchestrate_run_refuses_it_before_any_work(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAS_HOME", str(tmp_path / "home"))
    path = tmp_path / "toy.yaml"
    path.write_text(f"name: toy\nworkload: {NAME}\nprotocol: oulu_npu_p1\nparams: {{steps: -2}}\n")
    args = ["run", str(path), "--preset", "smoke", "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 2, out.output
    assert out.output.strip().splitlines()[-1] == "error: steps=-2: expected an integer >= 1"
    assert not (tmp_path / "home").exists() and not (tmp_path / "m.db").exists()


def test_a_params_type_must_be_trial_params() -> None:
    @dataclass(frozen=True)
    class Loose:
        steps: int = 1

    with pytest.raises(TypeError, match="TrialParams"):
        WorkloadDef(toy, Loose, toy_frames)  # type: ignore[arg-type]
