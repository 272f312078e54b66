"""Specs, presets, --set overrides and job expansion (pure Python, no Ray)."""

from __future__ import annotations

import pytest

from orchestrator.experiments import EXPERIMENTS, resolve_experiment
from orchestrator.jobs import expand_jobs
from orchestrator.specs import PRESETS, SpecError, apply_overrides, load_spec_file, with_preset


@pytest.mark.parametrize("name", EXPERIMENTS.names())
@pytest.mark.parametrize("preset", PRESETS)
def test_every_experiment_has_every_preset(name: str, preset: str) -> None:
    spec = resolve_experiment(name, preset)
    assert spec.preset == preset
    assert spec.n_trials() >= 1


def test_ablations_sweep_eleven_points_with_seeds() -> None:
    spec = resolve_experiment("ablation_cdc_theta", "paper")
    assert spec.grid["theta"] == tuple(round(0.1 * i, 1) for i in range(11))
    quick = resolve_experiment("ablation_cdc_theta", "quick")  # the demo: 2 values x 3 seeds
    assert quick.grid["theta"] == (0.0, 0.7)
    assert len(quick.seeds) == 3 and quick.n_trials() == 6
    gamma = resolve_experiment("ablation_cdp_gamma", "smoke")
    assert gamma.params["network"] == "cdn_cdp" and len(gamma.grid["gamma"]) == 11


def test_set_overrides_are_typed_and_named() -> None:
    spec = resolve_experiment("ablation_cdc_theta", "smoke")
    out = apply_overrides(spec, {"epochs": "3", "lr": "0.01", "seeds": "2", "grid.theta": "[0, 1]"})
    assert out.params["epochs"] == 3 and out.params["lr"] == 0.01
    assert out.seeds == (0, 1) and out.grid["theta"] == (0, 1)
    assert apply_overrides(spec, {"resources.gpu": "0.5"}).resources["gpu"] == 0.5
    with pytest.raises(SpecError, match="epochs: expected int"):
        apply_overrides(spec, {"epochs": "many"})
    with pytest.raises(SpecError, match="unknown --set key 'epoch'.*valid keys:.*epochs"):
        apply_overrides(spec, {"epoch": "3"})


def test_unknown_experiment_and_preset_list_the_valid_names() -> None:
    with pytest.raises(SpecError, match="ablation_cdc_theta"):
        resolve_experiment("ablation_cdc_thta", "smoke")
    with pytest.raises(SpecError, match="valid presets: smoke, quick, paper"):
        with_preset(EXPERIMENTS.get("ablation_cdc_theta"), "fast")


def test_spec_file_round_trip(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: my_sweep\nworkload: train_eval\nprotocol: oulu_npu_p1\n"
        "params: {network: cdcn, epochs: 2}\ngrid: {theta: [0.0, 0.7]}\nseeds: [0, 1]\n"
    )
    spec = resolve_experiment(str(path), "smoke")
    assert spec.name == "my_sweep" and spec.n_trials() == 4
    path.write_text("name: x\nworkload: train_eval\nprotocol: p\nparams: {}\nbogus: 1\n")
    with pytest.raises(SpecError, match="unknown fields \\['bogus'\\]"):
        load_spec_file(path)


def test_run_keys_are_stable_and_sensitive() -> None:
    spec = resolve_experiment("ablation_cdc_theta", "smoke")
    jobs = expand_jobs(spec, ["p1"], "data-a")
    assert len(jobs) == 11 and len({j.run_key for j in jobs}) == 11
    assert [j.run_key for j in expand_jobs(spec, ["p1"], "data-a")] == [j.run_key for j in jobs]
    assert jobs[0].run_key not in {j.run_key for j in expand_jobs(spec, ["p1"], "data-b")}
    changed = apply_overrides(spec, {"epochs": "2"})
    assert jobs[0].run_key != expand_jobs(changed, ["p1"], "data-a")[0].run_key
    # the preset name alone does not change what a trial computes
    renamed = with_preset(spec, "smoke")
    assert expand_jobs(renamed, ["p1"], "data-a")[0].run_key == jobs[0].run_key
    # where a trial runs does not change its result; data-parallel training does
    more_cpus = apply_overrides(spec, {"resources.cpu": "2"})
    assert expand_jobs(more_cpus, ["p1"], "data-a")[0].run_key == jobs[0].run_key
    two_workers = apply_overrides(spec, {"resources.workers": "2"})
    assert expand_jobs(two_workers, ["p1"], "data-a")[0].run_key != jobs[0].run_key


def test_sampled_jobs_get_their_own_stable_keys() -> None:
    spec = resolve_experiment("ri_random_sampling", "smoke")
    assert spec.sampling["algorithm"] == "random" and spec.sampling["num_samples"] == 2
    template = expand_jobs(spec, ["p1"], "data")[0]
    a = template.with_sample({"arch.normal_n0_op0": "sep_conv_3x3"})
    b = template.with_sample({"arch.normal_n0_op0": "sep_conv_3x3"})
    c = template.with_sample({"arch.normal_n0_op0": "max_pool_3x3"})
    assert a.run_key == b.run_key != c.run_key != template.run_key
    assert a.params["template_key"] == template.run_key
    assert a.params["arch.normal_n0_op0"] == "sep_conv_3x3"
    more = apply_overrides(spec, {"sampling.num_samples": "5"})
    assert more.sampling["num_samples"] == 5
    with pytest.raises(SpecError, match="no sampling field 'n'"):
        apply_overrides(spec, {"sampling.n": "5"})


def test_variants_are_named_bundles_of_params() -> None:
    spec = resolve_experiment("nas_fas_space", "smoke")
    jobs = {j.params["variant"]: j.params for j in expand_jobs(spec, ["p1"], "d")}
    assert len(jobs) == 10
    assert jobs["SD-CD-CDP-Att"]["representation"] == "static_dynamic"
    assert jobs["SD-CD-CDP-Att"]["pooling"] == "cdp" and jobs["SD-CD-CDP-Att"]["attention"]
    assert jobs["S-Van-Max"]["space"] == "fas_van" and not jobs["S-Van-Max"]["attention"]
    base = resolve_experiment("nas_baseline_space", "smoke")
    heads = {j.params["variant"]: j.params["head"] for j in expand_jobs(base, ["p1"], "d")}
    assert heads["S-Van-CE"] == "ce" and heads["SD-CD-DP"] == "map" and len(heads) == 8


def test_trial_counts_include_folds_and_sampled_trials() -> None:
    from protocols.protocols import PROTOCOLS

    ri = resolve_experiment("ri_random_sampling", "smoke")
    assert ri.n_trials() == 4 + 4 * 2  # four NAS trials, two random samples per space
    siwm = resolve_experiment("protocol_siwm_loto", "quick")
    assert siwm.n_trials(PROTOCOLS.get("siwm_loto").n_folds) == 13 * 2
    assert resolve_experiment("meta_nas_siwm", "smoke").n_trials(13) == 3  # one fold picked
    expected = {"oulu_npu": 14, "siw": 7, "ocim_lodo": 4, "cim_loto": 9, "cdct": 3}
    assert {p: PROTOCOLS.get(p).n_folds for p in expected} == expected


def test_set_gives_a_declared_param_the_spec_leaves_out() -> None:
    """``precision`` is in no built-in spec's params (smoke and quick leave it at its default);
    ``--set`` may still give it, typed by validation like any param."""
    from orchestrator.validation import validate_spec

    spec = resolve_experiment("ablation_cdc_theta", "smoke")
    assert "precision" not in spec.params
    given = apply_overrides(spec, {"precision": "bf16", "channels_last": "true"})
    assert validate_spec(given).params["precision"] == "bf16"
    with pytest.raises(SpecError, match="^precision='fp8': expected one of fp32"):
        validate_spec(apply_overrides(spec, {"precision": "fp8"}))
    with pytest.raises(SpecError, match="unknown --set key 'precison'"):
        apply_overrides(spec, {"precison": "bf16"})


def test_a_whole_number_for_a_real_param_is_the_same_trial_as_its_real_value() -> None:
    """``--set grid.theta=[0,0.7]`` reads 0 as an integer; the preset's grid holds 0.0. Both are
    the trial θ = 0: the same run key (a re-run reuses it), label and param value."""
    from orchestrator.specs import parse_set_options
    from orchestrator.validation import validate_spec

    preset = validate_spec(resolve_experiment("ablation_cdc_theta", "quick"))
    typed = validate_spec(
        apply_overrides(
            resolve_experiment("ablation_cdc_theta", "quick"),
            parse_set_options(["grid.theta=[0,0.4,0.7,1]", "epochs=10"]),
        )
    )
    assert typed.grid["theta"] == (0.0, 0.4, 0.7, 1.0)
    assert all(type(v) is float for v in typed.grid["theta"])
    assert type(typed.params["epochs"]) is int  # an integer param stays an integer
    by_key = {j.run_key: j for j in expand_jobs(typed, ["p1"], "fp")}
    for job in expand_jobs(preset, ["p1"], "fp"):
        assert by_key[job.run_key].label == job.label
        assert by_key[job.run_key].params == job.params


def test_a_spec_that_bypasses_validation_gets_the_same_run_keys() -> None:
    """A library caller that builds a spec and runs it without ``validate_spec`` (integers for a
    real param) still reuses the validated trials: ``expand_jobs`` makes the spec canonical."""
    from orchestrator.specs import parse_set_options
    from orchestrator.validation import validate_spec

    spec = resolve_experiment("ablation_cdc_theta", "quick")
    raw = apply_overrides(spec, parse_set_options(["grid.theta=[0,1]"]))
    assert [type(v) for v in raw.grid["theta"]] == [int, int]  # as typed, not validated
    validated = validate_spec(raw)
    keys = [j.run_key for j in expand_jobs(validated, ["p1"], "fp")]
    jobs = expand_jobs(raw, ["p1"], "fp")
    assert [j.run_key for j in jobs] == keys
    assert {type(j.params["theta"]) for j in jobs} == {float}
