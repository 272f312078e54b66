"""The NAS workloads: ``nas_search`` (search -> retrain -> evaluate in one trial) and
``random_sample`` (retrain -> evaluate a sampled genotype: the random-search baseline).

Both retrain through ``train_eval`` with ``network="genotype"`` and the same params, so a relative
improvement (RI) of the search over random sampling compares equal budgets: same data, epochs,
width and pipeline. The search only ever reads the fold's *train* split.

Params (plain JSON; defaults in brackets):

* Space: ``space`` [``autofas``] (a ``SPACES`` name) with overrides as flat keys (``C``,
  ``layers``, ``input_size``, ``op_space``, ``ops``, ``head``, ``pooling``, ``attention``,
  ``theta``, ``gamma``, ``ratios``, ``n_nodes``, ``stem_multiplier``) and/or ``space_overrides``
  (a dict or its JSON string); flat keys win; a ``None`` param means the default (the preset's
  value; ``input_size`` defaults to the space's).
* Search (``nas_search`` only): ``k`` [4] partial channels; ``search_epochs`` and
  ``warmup_epochs`` [preset]; ``search_batch_size`` [10]; ``w_lr``, ``a_lr``, ``optimizer``
  (``adam`` | ``sgd``), ``w_schedule`` [preset]; ``unrolled`` [False]; ``search_steps`` [all] caps
  the steps per epoch; ``inner_lr``/``meta_lr`` [1e-4] (meta splits); ``search_preset``
  [``auto_fas`` for the autofas space, else ``nas_fas``] picks the base ``SearchConfig``;
  ``report_arch`` [False] also reports the softmax arch weights as ``search_arch/...`` metrics;
  ``stop_on_collapse`` [False]; ``split`` [``random``] is one of ``SPLITS``; ``domain_key``: the
  manifest column naming a domain [``dataset``; ``attack_type`` for the type splits], e.g.
  ``device``/``session`` on OULU-shaped data, ``pai`` for type-aware search by PAI species
  (SiW-M's 13 types), ``instrument`` for one task per individual instrument. Type
  splits pair each attack domain with all live rows (live is shared by every task).
* Retrain (both): ``epochs`` [60], ``lr`` [1e-4], ``weight_decay`` [5e-5], ``batch_size`` [8],
  ``width`` [the space's ``retrain_width``: 2.0 for NAS-FAS's spaces, which double the search
  channels, 1.0 for Auto-FAS], ``loss`` [the space's ``default_loss``: ``depth`` (MSE + CDL, a
  ReLU depth head) in the FAS space, ``binary`` masks otherwise; the search uses it too],
  ``frames_per_video`` [8], ``representation`` [``static``], ``seed`` [0], ``lr_step``, ``augment``.
* ``random_sample``'s architecture, first found of: ``genotype`` (a genotype JSON string);
  ``arch.<name>`` choices with ``<name>`` from :func:`search_space_choices` (the
  ``genotype_choices`` names, e.g. ``arch.normal_n2_inputs``, ``arch.normal_n2_op0``,
  ``arch.low_n0_op0``; the orchestrator's Optuna sampler adds the ``arch.`` prefix); or
  ``sample_seed`` (``sample_genotype(space, seed)``).

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
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from search_spaces.genotypes import (
    Genotype,
    GenotypeError,
    genotype_choices,
    genotype_from_choices,
    sample_genotype,
)
from search_spaces.spaces import SearchSpace, make_space
from search_spaces.supernet import build_supernet
from workloads import checkpointing
from workloads.base import WORKLOADS, DataHandle, Report, WorkloadResult
from workloads.cache import FrameDataset, build_cache
from workloads.nas.config import SearchConfig
from workloads.nas.loop import SearchLoop, SearchResult
from workloads.nas.splits import DomainSplit, RandomSplit
from workloads.pipeline import PipelineConfig
from workloads.train_eval import (
    GENOTYPE_NETWORK,
    device_for_trial,
    load_fold,
    pipeline_config,
    seed_everything,
    train_eval,
)

__all__ = [
    "ARCH_PREFIX",
    "SPLITS",
    "FrameBatches",
    "nas_search",
    "random_sample",
    "retrain_params",
    "sampled_genotype",
    "search_space_choices",
    "space_from_params",
]

DEFAULT_SPACE = "autofas"
ARCH_PREFIX = "arch."
SPLITS = ("random", "domain", "type", "meta_domain", "meta_type")
FLAT_SPACE_KEYS = (
    "C",
    "layers",
    "input_size",
    "op_space",
    "ops",
    "head",
    "pooling",
    "attention",
    "theta",
    "gamma",
    "ratios",
    "n_nodes",
    "stem_multiplier",
)
_INT_FIELDS = ("C", "layers", "input_size", "n_nodes", "stem_multiplier")
_FLOAT_FIELDS = ("theta", "gamma")
RETRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 60,
    "lr": 1e-4,
    "weight_decay": 5e-5,
    "batch_size": 8,
    "frames_per_video": 8,
    "representation": "static",
    "seed": 0,
}


def _flag(value: Any) -> bool:
    """JSON or ``--set`` booleans (``"false"`` must not be truthy)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _json_dict(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, Mapping):
        raise ValueError(f"space_overrides must be a JSON object; got {value!r}")
    return dict(data)


def space_from_params(params: Mapping[str, Any]) -> SearchSpace:
    """The search space the params name: preset ``space``, ``space_overrides``, flat keys."""
    overrides = _json_dict(params.get("space_overrides"))
    # None means "the space's own default" (an experiment shared by several spaces)
    overrides.update({k: params[k] for k in FLAT_SPACE_KEYS if params.get(k) is not None})
    for k in _INT_FIELDS:
        if k in overrides:
            overrides[k] = int(overrides[k])
    for k in _FLOAT_FIELDS:
        if k in overrides:
            overrides[k] = float(overrides[k])
    if "attention" in overrides:
        overrides["attention"] = _flag(overrides["attention"])
    for k in ("ops", "ratios"):
        if isinstance(overrides.get(k), str):
            overrides[k] = json.loads(overrides[k])
    return make_space(str(params.get("space", DEFAULT_SPACE)), **overrides)


def _with_defaults(params: Mapping[str, Any], space: SearchSpace) -> dict[str, Any]:
    """Params with the retrain defaults; input size, width and loss default to the space's."""
    given = {k: v for k, v in params.items() if v is not None}
    own = {
        "input_size": space.input_size,
        "width": space.retrain_width,
        "loss": space.default_loss,
    }
    return {**RETRAIN_DEFAULTS, **own, **given}


def data_config(params: dict[str, Any]) -> PipelineConfig:
    """The frame-cache setting of the search and of the retrain (one cache for both)."""
    space = space_from_params(params)
    p = _with_defaults(params, space)
    return pipeline_config(p, space.map_size(int(p["input_size"])))


def search_space_choices(params: Mapping[str, Any]) -> dict[str, list]:
    """Categorical choices spanning the genotypes of the params' space (Optuna define-by-run);
    names carry no prefix: the sampler adds ``arch.``, ``random_sample`` strips it."""
    return genotype_choices(space_from_params(params))


def sampled_genotype(params: Mapping[str, Any]) -> tuple[Genotype, str]:
    """``random_sample``'s architecture and where it came from (genotype | choices | seed)."""
    if params.get("genotype"):
        return Genotype.from_json(str(params["genotype"])), "genotype"
    space = space_from_params(params)
    choices = {k[len(ARCH_PREFIX) :]: v for k, v in params.items() if k.startswith(ARCH_PREFIX)}
    if choices:
        unknown = sorted(set(choices) - set(genotype_choices(space)))
        if unknown:
            raise GenotypeError(f"unknown choices {unknown} for space {space.name!r}")
        return genotype_from_choices(space, choices), "choices"
    if "sample_seed" in params:
        return sample_genotype(space, int(params["sample_seed"])), "sample_seed"
    raise ValueError("random_sample needs 'genotype', 'arch.*' choices or 'sample_seed'")


class FrameBatches:
    """Shuffled batches ``(images, maps, labels, video index)`` of chosen frames of a dataset.

    Re-shuffled on every pass (the splitters re-iterate each epoch); frames stay uint8 until a
    batch is cut so large train splits fit in memory. Batches are near-equal (none of size 1).
    """

    def __init__(self, ds: FrameDataset, frames: np.ndarray, batch_size: int, seed: int) -> None:
        if len(frames) == 0:
            raise ValueError("a search batch source needs at least one frame")
        self.ds, self.frames = ds, np.asarray(frames, np.int64)
        self.n_batches = max(1, len(self.frames) // max(1, batch_size))
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n_batches

    def state_dict(self) -> dict[str, Any]:
        """The shuffle's RNG (a resumed search draws the batches the interrupted one would)."""
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._rng.bit_generator.state = dict(state["rng"])

    @property
    def video_ids(self) -> set[str]:
        return {self.ds.video_ids[v] for v in np.unique(self.ds.video_index[self.frames])}

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        ds = self.ds
        for idx in np.array_split(self._rng.permutation(self.frames), self.n_batches):
            vidx = ds.video_index[idx]
            yield (
                torch.from_numpy(ds.images[idx]).float().div_(255.0),
                torch.from_numpy(ds.maps[idx]),
                torch.from_numpy(ds.labels[vidx]),
                torch.from_numpy(vidx),
            )


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    return split


def _frames_of(ds: FrameDataset, videos: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(ds.video_index, videos))


def _domain_videos(videos: pd.DataFrame, split: str, key: str) -> dict[str, np.ndarray]:
    """Video indices per domain; type splits share every live video across the attack types."""
    if key not in videos.columns:
        raise ValueError(f"domain_key {key!r} is not a manifest column: {list(videos.columns)}")
    col = videos[key].astype(str).to_numpy()
    if split.endswith("type"):
        live = videos["label"].to_numpy() == 1
        names = sorted(set(col[~live]))
        out = {d: np.flatnonzero(live | (col == d)) for d in names}
    else:
        out = {d: np.flatnonzero(col == d) for d in sorted(set(col))}
    if len(out) < 2:
        raise ValueError(
            f"split {split!r} needs >= 2 domains in column {key!r} of the train split; "
            f"found {sorted(out)}"
        )
    return out


def make_splitter(
    ds: FrameDataset, split: str, domain_key: str, batch_size: int, seed: int, steps: int | None
) -> RandomSplit | DomainSplit:
    """NAS: label-stratified random halves of the videos; D/T splits: batches per domain."""
    _check_split(split)
    videos = ds.videos
    if split == "random":
        rng = np.random.default_rng(seed)
        groups = videos.groupby("label").indices.values()
        order = np.concatenate([rng.permutation(idx) for idx in groups])
        halves = [_frames_of(ds, order[0::2]), _frames_of(ds, order[1::2])]
        return RandomSplit(
            FrameBatches(ds, halves[0], batch_size, seed),
            FrameBatches(ds, halves[1], batch_size, seed + 1),
        )
    domains = {
        d: FrameBatches(ds, _frames_of(ds, v), batch_size, seed + i)
        for i, (d, v) in enumerate(_domain_videos(videos, split, domain_key).items())
    }
    return DomainSplit(domains, steps_per_epoch=steps, seed=seed)


def search_config(params: Mapping[str, Any], space: SearchSpace) -> SearchConfig:
    """The base preset (NAS-FAS or Auto-FAS settings) with the params' overrides."""
    preset = params.get("search_preset", "auto_fas" if space.kind == "autofas" else "nas_fas")
    if preset not in ("nas_fas", "auto_fas"):
        raise ValueError(f"search_preset must be 'nas_fas' or 'auto_fas'; got {preset!r}")
    renames = {
        "search_epochs": ("epochs", int),
        "warmup_epochs": ("warmup_epochs", int),
        "w_lr": ("w_lr", float),
        "a_lr": ("arch_lr", float),
        "optimizer": ("w_optimizer", str),
        "w_schedule": ("w_schedule", str),
        "inner_lr": ("inner_lr", float),
        "meta_lr": ("meta_lr", float),
        "search_steps": ("max_steps_per_epoch", int),
        "collapse_max_skip": ("collapse_max_skip", int),
    }
    kw: dict[str, Any] = {
        field: cast(params[key])
        for key, (field, cast) in renames.items()
        if params.get(key) is not None
    }
    kw["report_arch"] = False  # the arch weights go to arch_trajectory.json unless asked for
    for key in ("unrolled", "report_arch", "stop_on_collapse"):
        if key in params:
            kw[key] = _flag(params[key])
    split = str(params.get("split", "random"))
    kw.update(
        mode="meta" if split.startswith("meta") else "nas",
        loss=str(_with_defaults(params, space)["loss"]),
        seed=int(params.get("seed", 0)),
    )
    return getattr(SearchConfig, preset)(**kw)


def _search_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """pcdarts epochs (0-based, a genotype string) -> 1-based epochs, ``search_`` float metrics."""
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
    params: Mapping[str, Any],
    data: DataHandle,
    report: Report,
    offset: int = 0,
    extra: Mapping[str, bytes] | None = None,
) -> WorkloadResult:
    """The shared retrain + evaluate half: ``train_eval`` on the genotype at ``width``."""
    p = retrain_params(genotype, params)
    return train_eval(p, data, _shifted_report(report, offset, extra))


def retrain_params(genotype: Genotype, params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``train_eval`` params that retrain ``genotype``: defaults (width, loss, input size)
    from its space, where the trial's params leave them open."""
    p = _with_defaults(params, genotype.make_space())
    p.update(network=GENOTYPE_NETWORK, genotype=genotype.to_json(indent=None))
    return p


def run_search(
    params: Mapping[str, Any], data: DataHandle, report: Report
) -> tuple[SearchLoop, SearchSpace, dict[str, Any], float]:
    """PC-DARTS (or D/T(-Meta)-NAS) on the fold's train split only, continued from the search
    state in ``data.resume`` if there is one: the finished loop (``loop.result``, the supernet
    as ``loop.model``), the space, info and the seconds searched (over all attempts)."""
    start = time.perf_counter()
    space = space_from_params(params)
    cfg = search_config(params, space)
    split = _check_split(str(params.get("split", "random")))
    key = str(params.get("domain_key") or ("attack_type" if split.endswith("type") else "dataset"))
    p = _with_defaults(params, space)
    fold = load_fold(data)
    cache = build_cache(fold.train, data_config(p), data.cache_root)
    ds = FrameDataset(cache, fold.train)
    steps = cfg.max_steps_per_epoch
    batch = int(params.get("search_batch_size", 10))
    splitter = make_splitter(ds, split, key, batch, cfg.seed, steps)
    seed_everything(cfg.seed)
    supernet = build_supernet(space, k=int(params.get("k", 4)), depth_head=cfg.loss == "depth")
    model = supernet.to(device_for_trial())
    loop = SearchLoop(model, cfg=cfg, splitter=splitter)
    info: dict[str, Any] = {"search_split": split, "domain_key": key}
    state = checkpointing.load_state(data, checkpointing.SEARCH_STATE_FILE)
    if state is not None:  # restored last: setup drew its random numbers as the first run did
        info["search_resumed_from_epoch"] = checkpointing.restore(state, loop.stateful())
        loop.load_progress(state["progress"])
    start -= float(state["search_seconds"]) if state else 0.0
    while not loop.done:
        metrics = _search_metrics(loop.run_epoch())
        if checkpointing.due(data, params, loop.epoch) and not loop.done:
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


@WORKLOADS.register("nas_search")
def nas_search(params: dict[str, Any], data: DataHandle, report: Report) -> WorkloadResult:
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


@WORKLOADS.register("random_sample")
def random_sample(params: dict[str, Any], data: DataHandle, report: Report) -> WorkloadResult:
    """Retrain and evaluate one sampled genotype exactly like ``nas_search``'s retrain half."""
    genotype, source = sampled_genotype(params)
    out = retrain(genotype, params, data, report)
    out.info.update(genotype=genotype.to_json(indent=None), genotype_source=source)
    return out


nas_search.data_config = data_config  # type: ignore[attr-defined]
random_sample.data_config = data_config  # type: ignore[attr-defined]
