"""The NAS workloads: ``nas_search`` (search -> retrain -> evaluate in one trial) and
``random_sample`` (retrain -> evaluate a sampled genotype: the random-search baseline).

Both retrain through ``train_eval`` with ``network="genotype"`` and the same params, so a relative
improvement (RI) of the search over random sampling compares equal budgets: same data, epochs,
width and pipeline. The search only ever reads the fold's *train* split.

Params: :class:`workloads.search_params.SearchParams` (``nas_search``) and
:class:`workloads.search_params.RandomSampleParams` (``random_sample``).

Reported epochs: the search's as ``epoch`` 1..search_epochs with ``search_``-prefixed float
metrics, then the retrain's shifted by ``search_epochs`` so MLflow steps never repeat.

Checkpoints (``data.checkpointing``, every ``checkpoint_every`` epochs of the search and of the
retrain): each search epoch's checkpoint is ``search_state.pt``, the search loop's complete state
(supernet weights and architecture parameters, both optimizers, the support/query samplers, every
RNG, history and architecture trajectory; see ``nas.loop.SearchLoop``). The finished search is
saved as ``search.json`` (genotype, history, trajectory) and every retrain checkpoint carries it
beside train_eval's per-epoch ``state.pt``. A resumed ``nas_search`` continues a search after
its last saved epoch (ending with the genotype and architecture weights of an uninterrupted
search, bit-identical on CPU), skips a finished search, and continues its retrain after the
saved epoch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from search_spaces.genotypes import (
    Genotype,
    GenotypeError,
    genotype_choices,
    genotype_from_choices,
    sample_genotype,
)
from search_spaces.spaces import SearchSpace
from search_spaces.supernet import build_supernet
from workloads import checkpointing
from workloads.base import WORKLOADS, DataHandle, Report, WorkloadDef, WorkloadResult
from workloads.batches import make_splitter
from workloads.cache import FrameDataset, build_cache
from workloads.nas.config import SearchConfig
from workloads.nas.loop import SearchLoop, SearchResult
from workloads.nas.splits import DomainSplit
from workloads.pipeline import PipelineConfig
from workloads.precision import Precision
from workloads.search_params import (
    RandomSampleParams,
    SearchParams,
    retrain_params,
    retrain_settings,
    space_from_params,
)
from workloads.train_eval import (
    device_for_trial,
    load_fold,
    pipeline_config,
    seed_everything,
    train_eval,
)


def data_config(params: SearchParams) -> PipelineConfig:
    """The frame-cache setting of the search and of the retrain (one cache for both)."""
    space = space_from_params(params)
    settings = retrain_settings(params, space)
    return pipeline_config(settings, settings.input_size, space.map_size(settings.input_size))


def search_space_choices(params: SearchParams) -> dict[str, list]:
    """Categorical choices spanning the genotypes of the params' space (Optuna define-by-run);
    names carry no prefix: the sampler adds ``CHOICE_PREFIX``, ``random_sample`` reads them
    back as ``params.arch``."""
    return genotype_choices(space_from_params(params))


def sampled_genotype(params: RandomSampleParams) -> tuple[Genotype, str]:
    """``random_sample``'s architecture and where it came from (genotype | choices | seed)."""
    if params.genotype:
        return Genotype.from_json(str(params.genotype)), "genotype"
    space = space_from_params(params)
    if params.arch:
        unknown = sorted(set(params.arch) - set(genotype_choices(space)))
        if unknown:
            raise GenotypeError(f"unknown choices {unknown} for space {space.name!r}")
        return genotype_from_choices(space, dict(params.arch)), "choices"
    if params.sample_seed is not None:
        return sample_genotype(space, params.sample_seed), "sample_seed"
    raise ValueError("random_sample needs 'genotype', 'arch.*' choices or 'sample_seed'")


def search_config(params: SearchParams, space: SearchSpace) -> SearchConfig:
    """The base preset (NAS-FAS or Auto-FAS settings) with the params' overrides."""
    preset = params.search_preset or ("auto_fas" if space.kind == "autofas" else "nas_fas")
    overrides = {
        "epochs": params.search_epochs,
        "warmup_epochs": params.warmup_epochs,
        "w_lr": params.w_lr,
        "arch_lr": params.a_lr,
        "w_optimizer": params.optimizer,
        "w_schedule": params.w_schedule,
        "inner_lr": params.inner_lr,
        "meta_lr": params.meta_lr,
        "max_steps_per_epoch": params.search_steps,
        "collapse_max_skip": params.collapse_max_skip,
        "unrolled": params.unrolled,
        "stop_on_collapse": params.stop_on_collapse,
    }
    kw: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    kw.update(
        # the arch weights go to arch_trajectory.json unless asked for
        report_arch=params.report_arch,
        mode="meta" if params.split.startswith("meta") else "nas",
        loss=retrain_settings(params, space).loss,
        seed=params.seed,
    )
    return getattr(SearchConfig, preset)(**kw)


def _search_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Search epochs (0-based, a genotype string) -> 1-based epochs, ``search_`` float metrics."""
    out = {"epoch": float(metrics["epoch"]) + 1.0}
    for k, v in metrics.items():
        if k != "epoch" and isinstance(v, (int, float)):
            out[f"search_{k}"] = float(v)
    return out


def _shifted_report(
    report: Report, offset: int, extra: Mapping[str, bytes] | None = None
) -> Report:
    """Retrain epochs shifted by ``offset``; its checkpoints carry ``extra`` (the search) too."""

    def forward(metrics: Mapping[str, Any], checkpoint: Mapping[str, bytes] | None = None) -> None:
        out = {k: float(v) for k, v in metrics.items()}
        out["epoch"] = float(metrics["epoch"]) + offset
        if checkpoint is None:
            report(out)
        else:
            report(out, {**checkpoint, **(extra or {})})

    return forward


def retrain(
    genotype: Genotype,
    params: SearchParams,
    data: DataHandle,
    report: Report,
    offset: int = 0,
    extra: Mapping[str, bytes] | None = None,
) -> WorkloadResult:
    """The shared retrain + evaluate half: ``train_eval`` on the genotype at ``width``."""
    p = retrain_params(genotype, params)
    return train_eval(p, data, _shifted_report(report, offset, extra))


def run_search(
    params: SearchParams, data: DataHandle, report: Report
) -> tuple[SearchLoop, SearchSpace, dict[str, Any], float]:
    """PC-DARTS (or D/T(-Meta)-NAS) on the fold's train split only, continued from the search
    state in ``data.resume`` if there is one: the finished loop (``loop.result``, the supernet
    as ``loop.model``), the space, info and the seconds searched (over all attempts)."""
    start = time.perf_counter()
    precision = Precision.of(params.precision, params.channels_last, device_for_trial())
    space = space_from_params(params)
    cfg = search_config(params, space)
    split = params.split
    key = params.domain_key or ("attack_type" if split.endswith("type") else "dataset")
    fold = load_fold(data)
    cache = build_cache(fold.train, data_config(params), data.cache_root)
    ds = FrameDataset(cache, fold.train)
    steps = cfg.max_steps_per_epoch
    splitter = make_splitter(ds, split, key, params.search_batch_size, cfg.seed, steps)
    seed_everything(cfg.seed)
    supernet = build_supernet(space, k=params.k, depth_head=cfg.loss == "depth")
    model = precision.prepare(supernet)
    loop = SearchLoop(model, cfg=cfg, splitter=splitter, precision=precision)
    info: dict[str, Any] = {"search_split": split, "domain_key": key}
    state = checkpointing.load_state(data, checkpointing.SEARCH_STATE_FILE)
    if state is not None:  # restored last: setup drew its random numbers as the first run did
        info["search_resumed_from_epoch"] = checkpointing.restore(state, loop.stateful())
        loop.load_progress(state["progress"])
    start -= float(state["search_seconds"]) if state else 0.0
    while not loop.done:
        metrics = _search_metrics(loop.run_epoch())
        if checkpointing.due(data, params.checkpoint_every, loop.epoch) and not loop.done:
            seconds = time.perf_counter() - start
            blob = checkpointing.save_state(
                loop.epoch, loop.stateful(), progress=loop.progress(), search_seconds=seconds
            )
            report(metrics, {checkpointing.SEARCH_STATE_FILE: blob})
        else:
            report(metrics)  # the last epoch's state is the finished search (search.json)
    info["search_domains"] = sorted(splitter.domains) if isinstance(splitter, DomainSplit) else []
    return loop, space, info, time.perf_counter() - start


def _trajectory(result: SearchResult, space: SearchSpace) -> dict[str, Any]:
    epochs = [
        {**{k: v for k, v in t.items() if k != "epoch"}, "epoch": int(t["epoch"]) + 1}
        for t in result.trajectory
    ]
    for e, h in zip(epochs, result.history, strict=False):
        e["genotype"] = json.loads(h["genotype"]) if "genotype" in h else None
    return {"space": space.to_dict(), "ops": list(space.op_names), "epochs": epochs}


def nas_search(params: SearchParams, data: DataHandle, report: Report) -> WorkloadResult:
    """Search on train, derive the genotype, retrain it at ``width`` and evaluate dev/test."""
    start = time.perf_counter()
    saved = checkpointing.saved_search(data)
    if saved is None:
        loop, space, search_info, search_seconds = run_search(params, data, report)
        result = loop.result
        start = time.perf_counter() - search_seconds
    else:  # resumed after its search: only the retrain is left
        result, search_info, search_seconds = saved
        space = space_from_params(params)
        start -= search_seconds
    extra = {
        checkpointing.SEARCH_FILE: checkpointing.search_state(result, search_info, search_seconds)
    }
    if saved is None and data.checkpointing:
        report({}, extra)  # a checkpoint between epochs: the search is done
    offset = len(result.history)
    out = retrain(result.genotype, params, data, report, offset=offset, extra=extra)
    out.artifacts["arch_trajectory.json"] = json.dumps(_trajectory(result, space)).encode()
    out.info.update(search_info)
    out.info.update(
        genotype=result.genotype.to_json(indent=None),
        genotype_trajectory=[h["genotype"] for h in result.history if "genotype" in h],
        search_epochs=offset,
        search_seconds=search_seconds,
        train_seconds=time.perf_counter() - start,
    )
    if result.collapse:
        out.info["search_collapse"] = result.collapse
    if saved is not None:
        out.info["resumed_after_search"] = True
    return out


def random_sample(params: RandomSampleParams, data: DataHandle, report: Report) -> WorkloadResult:
    """Retrain and evaluate one sampled genotype exactly like ``nas_search``'s retrain half."""
    genotype, source = sampled_genotype(params)
    out = retrain(genotype, params, data, report)
    out.info.update(genotype=genotype.to_json(indent=None), genotype_source=source)
    return out


WORKLOADS.add(
    "nas_search",
    WorkloadDef(nas_search, SearchParams, data_config, search_space=space_from_params),
)
WORKLOADS.add(
    "random_sample",
    WorkloadDef(
        random_sample,
        RandomSampleParams,
        data_config,
        choices=search_space_choices,
        search_space=space_from_params,
    ),
)
