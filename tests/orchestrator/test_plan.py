"""``orchestrate plan``: the runner's trial counts, the scheduling model, a stated throughput,
bad input, and the skeleton root it counts videos on."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.experiments import resolve_experiment
from orchestrator.plan import makespan, slots, stage_walls
from orchestrator.settings import planning_root, protocol_folders
from orchestrator.validation import validate_spec
from protocols.datasets import load_manifest

runner = CliRunner()


def plan_json(*args: str) -> dict:
    result = runner.invoke(app, ["plan", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_four_equal_trials_on_two_slots_take_two_durations() -> None:
    assert makespan([5.0] * 4, 2) == 10.0
    assert makespan([5.0] * 4, 8) == 5.0
    assert makespan([6.0, 3.0, 3.0], 2) == 6.0  # the third starts when a slot frees
    assert makespan([3.0, 3.0, 6.0], 2) == 9.0  # in order, as Tune starts them
    assert makespan([], 4) == 0.0
    walls = stage_walls({"trials": [4.0] * 4, "samples": [1.0]}, 2, stage_overhead=0.0)
    assert walls == {"trials": 8.0, "samples": 1.0}  # stages run one after another


def test_slots_count_gpus_per_trial_and_its_workers() -> None:
    assert slots({"gpu": 1, "cpu": 4}, 8, 1) == 8
    assert slots({"gpu": 0.5}, 3, 1) == 6
    assert slots({"gpu": 1, "workers": 2}, 5, 1) == 2
    assert slots({"gpu": 0, "cpu": 1}, 8, 2) == 2  # CPU-only trials: CPUs decide


@pytest.mark.parametrize(
    ("experiment", "sampled"), [("ablation_cdc_theta", 0), ("ri_random_sampling", 8)]
)
def test_counts_are_what_run_schedules(experiment: str, sampled: int) -> None:
    """The runner's jobs (``expand_jobs``) and sampled stages (``sampling_plan``) on the same
    folds: trials, epochs and the fan-out."""
    from orchestrator.jobs import expand_jobs
    from orchestrator.runner import fold_manifest

    d = plan_json(experiment, "--preset", "smoke", "--images-per-s", "100", "--gpus", "2")
    spec = validate_spec(resolve_experiment(experiment, "smoke"))
    with planning_root(None, spec.data_size, protocol_folders(spec.protocol)) as (root, _):
        fold_rows, manifest = fold_manifest(spec, root)
    folds = [f.name for f in fold_rows]
    jobs = expand_jobs(spec, folds, "x")
    assert d["trials"] == len(jobs) + sampled == spec.n_trials(len(folds))
    assert d["jobs"]["grid_jobs"] == len(jobs) and d["jobs"]["sampled"] == sampled
    assert d["videos"] == len(manifest) and d["folds"] == folds
    assert d["epochs"] == sum(int(j.params["epochs"]) for j in jobs) + sampled * int(
        spec.params["epochs"]
    )


def test_stated_throughput_sets_the_seconds() -> None:
    """With --images-per-s every network trains at that rate and scores 3x faster: a train_eval
    trial is epochs x (train / r + dev / 3r) + test / 3r plus its overhead."""
    d = plan_json("ablation_cdc_theta", "--preset", "smoke", "--images-per-s", "10", "--gpus", "2")
    group = d["groups"][0]
    assert all(v == {"train_ips": 10.0, "eval_ips": 30.0} for v in d["throughput"].values())
    assert group["trials"] == 11 and group["epochs"] == 1
    per_trial = group["seconds"] / group["trials"]
    assert per_trial > group["train_frames"] / 10.0
    faster = plan_json("ablation_cdc_theta", "--preset", "smoke", "--images-per-s", "20")
    assert faster["trial_seconds"] < d["trial_seconds"]
    assert d["cache_bytes"] > 0 and d["gpu_hours"] == 0.0  # smoke trials ask for no GPU


def test_paper_preset_counts_gpu_hours_and_wall_on_n_gpus() -> None:
    d = plan_json("ablation_cdc_theta", "--preset", "paper", "--images-per-s", "100")
    assert d["trials"] == 11 and d["epochs"] == 11 * 1300 and d["concurrent_trials"] == 8
    assert d["gpu_hours"] == pytest.approx(d["trial_seconds"] / 3600)  # one GPU per trial
    # 11 equal trials on 8 GPUs: two rounds
    per_trial = d["trial_seconds"] / 11
    assert 2 * per_trial <= d["wall_seconds"] < 3 * per_trial
    # 8 frames of 256x256x3 bytes plus float32 maps per video, every video of the protocol
    assert d["cache_bytes"] >= d["videos"] * 8 * 3 * 256**2


def test_nas_plans_show_the_search() -> None:
    d = plan_json("nas_fas_space", "--preset", "smoke", "--images-per-s", "50")
    assert d["search_epochs"] == 10 * 2 and d["search_steps"] == 10 * 2 * 2


def test_table_output() -> None:
    result = runner.invoke(
        app, ["plan", "ablation_cdc_theta", "--preset", "smoke", "--images-per-s", "50"]
    )
    assert result.exit_code == 0, result.output
    assert "GPU-hours" in result.output and "frame cache" in result.output


def test_unknown_experiment_and_preset_are_one_line_errors() -> None:
    result = runner.invoke(app, ["plan", "no_such_experiment"])
    assert result.exit_code == 2
    assert "no_such_experiment" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["plan", "ablation_cdc_theta", "--preset", "huge"])
    assert result.exit_code == 2 and "huge" in result.output


def test_a_skeleton_lists_what_the_generator_writes(tmp_path) -> None:
    """The skeleton's manifests equal those of a generated root of the same (tiny) size."""
    from synth import SynthSize, generate
    from synth.sizes import LayoutCounts
    from synth.skeleton import write_skeleton

    size = SynthSize(
        1, 1, 1, phones=(1,), sessions=(1,), n_frames=2, frame_size=32,
        layouts=(("casia_mfsd", LayoutCounts(1)), ("3dmad", LayoutCounts(1))),
    )  # fmt: skip
    names = ["oulu_npu", "casia_mfsd", "3dmad"]
    generate(tmp_path / "real", size, 0, datasets=names)
    write_skeleton(tmp_path / "names", size, names)
    for dataset in names:
        real = load_manifest(dataset, tmp_path / "real")
        named = load_manifest(dataset, tmp_path / "names")
        cols = ["video_id", "subject", "pai", "label", "split"]
        assert real[cols].reset_index(drop=True).equals(named[cols].reset_index(drop=True))
