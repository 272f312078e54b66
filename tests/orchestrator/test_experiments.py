"""The built-in experiments resolve to each paper's settings: supervision, input, retrain width
and epochs, checked on the trial params a run would hand its workload (random samples too)."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest
from torch import nn

from orchestrator.experiments import EXPERIMENTS, resolve_experiment
from orchestrator.jobs import Job, expand_jobs
from orchestrator.specs import PRESETS
from search_spaces.nets import count_parameters
from workloads.base import WORKLOADS
from workloads.search import data_config, sampled_genotype, search_config
from workloads.search_params import RandomSampleParams, retrain_params, space_from_params
from workloads.train_eval import build_model

NAS_EXPERIMENTS = (
    "nas_fas_space",
    "nas_baseline_space",
    "ri_random_sampling",
    "autofas_search",
    "meta_nas_ocim",
    "meta_nas_siwm",
)
#: Experiments that search only NAS-FAS's FAS space.
FAS_ONLY = ("nas_fas_space", "meta_nas_ocim", "meta_nas_siwm")


def typed(job: Job):
    """The job's params as its workload reads them."""
    return WORKLOADS.get(job.workload).parse(job.params)


def sample(job: Job, seed: int) -> RandomSampleParams:
    """The job's params as a random sample of ``seed`` (its template filled with the seed)."""
    return WORKLOADS.get("random_sample").parse({**job.params, "sample_seed": seed})


def trials(name: str, preset: str) -> list[Job]:
    """Every grid trial of one fold, plus one random sample per template if the spec samples."""
    spec = resolve_experiment(name, preset)
    jobs = expand_jobs(spec, ["fold"], "data")
    if not spec.sampling:
        return jobs
    sampler = spec.sampling["workload"]  # a template runs the sampling workload
    return jobs + [replace(j, workload=sampler).with_sample({"sample_seed": 0}) for j in jobs]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", NAS_EXPERIMENTS)
def test_fas_space_trains_with_depth_and_the_other_spaces_with_binary_masks(
    name: str, preset: str
) -> None:
    kinds = set()
    for job in trials(name, preset):
        p = typed(job)
        space = space_from_params(p)
        kinds.add(space.kind)
        want = "depth" if space.kind == "fas" else "binary"
        assert job.params["loss"] == want, job.label
        assert search_config(p, space).loss == want, job.label  # the search's loss
        assert data_config(p).label == want, job.label  # the frame cache's labels
    if name in FAS_ONLY:
        assert kinds == {"fas"}
    if name == "ri_random_sampling":  # both FAS variants and their random samples
        assert kinds == {"baseline", "fas"}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", ["meta_nas_ocim", "meta_nas_siwm"])
def test_meta_nas_defaults_to_the_static_dynamic_input(name: str, preset: str) -> None:
    for job in trials(name, preset):
        assert job.params["representation"] == "static_dynamic", job.label
        assert data_config(typed(job)).representation == "static_dynamic"


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", NAS_EXPERIMENTS)
def test_genotypes_retrain_at_their_spaces_width(name: str, preset: str) -> None:
    for job in trials(name, preset):
        space = space_from_params(typed(job))
        assert (
            job.params["width"] == space.retrain_width == (1.0 if name == "autofas_search" else 2.0)
        )


@pytest.mark.parametrize("name", ["nas_fas_space", "nas_baseline_space", "autofas_search"])
def test_the_retrained_network_has_a_depth_head_only_for_the_depth_loss(name: str) -> None:
    for job in trials(name, "smoke"):
        genotype, _ = sampled_genotype(sample(job, 1))
        params = retrain_params(genotype, typed(job))
        head = build_model(params).head
        relu_last = isinstance(head[-2], nn.ReLU)  # head[-1] squeezes the channel
        assert relu_last == (params.loss == "depth") or genotype.make_space().head == "ce"


def test_sampled_autofas_genotypes_at_paper_settings_are_near_the_papers_size() -> None:
    """Auto-FAS's searched net has 0.27M params: genotypes retrain at the search width."""
    spec = resolve_experiment("autofas_search", "paper")
    (job,) = [j for j in expand_jobs(spec, ["p1"], "d") if j.params["variant"] == "DP"]
    sizes = []
    for seed in range(8):
        genotype, _ = sampled_genotype(sample(job, seed))
        params = retrain_params(genotype, typed(job))
        assert params.input_size == 108 and params.width == 1.0
        sizes.append(count_parameters(build_model(params)))
    assert 200_000 <= statistics.median(sizes) <= 350_000, sizes


@pytest.mark.parametrize("name", EXPERIMENTS.names())
def test_paper_preset_trains_for_at_most_1300_epochs(name: str) -> None:
    """NAS-FAS trains and retrains for at most 1300 epochs (the CDCN code's 1400 is not it)."""
    epochs = resolve_experiment(name, "paper").params["epochs"]
    assert epochs <= 1300
    if name.startswith(("ablation_", "nas_", "protocol_")):
        assert epochs == 1300


@pytest.mark.parametrize("name", EXPERIMENTS.names())
def test_only_the_paper_preset_runs_in_bf16_and_channels_last(name: str) -> None:
    """Paper trials (one GPU each) autocast to bf16 in channels_last; smoke and quick trials
    leave both params out of their configs, so their run keys hash the same params as before."""
    paper = typed(expand_jobs(resolve_experiment(name, "paper"), ["f"], "d")[0])
    assert (paper.precision, paper.channels_last) == ("bf16", True)
    for preset in ("smoke", "quick"):
        for job in expand_jobs(resolve_experiment(name, preset), ["f"], "d"):
            assert not {"precision", "channels_last"} & set(job.params), job.label
            assert (typed(job).precision, typed(job).channels_last) == ("fp32", False)
