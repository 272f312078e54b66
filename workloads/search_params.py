"""The params of the NAS workloads (``nas_search``, ``random_sample``), the search space they
name and the ``train_eval`` params of their retrain.

Defaults in brackets:

* Space (:class:`SpaceParams`): ``space`` [``autofas``] (a ``SPACES`` name) with overrides as
  flat keys (``C``, ``layers``, ``input_size``, ``op_space``, ``ops``, ``head``, ``pooling``,
  ``attention``, ``theta``, ``gamma``, ``ratios``, ``n_nodes``, ``stem_multiplier``) and/or
  ``space_overrides`` (a map or its JSON text); flat keys win; a null param means the default
  (the preset's value; ``input_size`` defaults to the space's).
* Search (:class:`SearchParams`, read by ``nas_search`` only): ``k`` [4] partial channels;
  ``search_epochs`` and ``warmup_epochs`` [preset]; ``search_batch_size`` [10]; ``w_lr``,
  ``a_lr``, ``optimizer`` (``adam`` | ``sgd``), ``w_schedule`` [preset]; ``unrolled`` [preset];
  ``search_steps`` [all] caps the steps per epoch; ``inner_lr``/``meta_lr`` [preset] (meta
  splits); ``search_preset`` [``auto_fas`` for the autofas space, else ``nas_fas``] picks the
  base ``SearchConfig``; ``report_arch`` [False] also reports the softmax arch weights as
  ``search_arch/...`` metrics; ``stop_on_collapse`` [preset]; ``split`` [``random``] is one of
  ``SPLITS``; ``domain_key``: the manifest column naming a domain [``dataset``; ``attack_type``
  for the type splits], e.g. ``device``/``session`` on OULU-shaped data, ``pai`` for type-aware
  search by PAI species (SiW-M's 13 types), ``instrument`` for one task per individual
  instrument. Type splits pair each attack domain with all live rows (live is shared by every
  task).
* Retrain (both; :class:`workloads.train_params.RetrainParams`): ``epochs`` [60], ``lr``
  [1e-4], ``weight_decay`` [5e-5], ``batch_size`` [8], ``width`` [the space's
  ``retrain_width``: 2.0 for NAS-FAS's spaces, which double the search channels, 1.0 for
  Auto-FAS], ``loss`` [the space's ``default_loss``: ``depth`` (MSE + CDL, a ReLU depth head) in
  the FAS space, ``binary`` masks otherwise; the search uses it too], ``frames_per_video`` [8],
  ``representation`` [``static``], ``seed`` [0], ``lr_step``, ``augment``.
* ``random_sample``'s architecture (:class:`RandomSampleParams`), first found of: ``genotype``
  (a genotype JSON string); ``arch.<name>`` choices with ``<name>`` from the space's
  ``genotype_choices`` (e.g. ``arch.normal_n2_inputs``, ``arch.normal_n2_op0``,
  ``arch.low_n0_op0``; the orchestrator's sampler adds the prefix); or ``sample_seed``
  (``sample_genotype(space, seed)``). It takes ``nas_search``'s params as they are (the search
  settings unused): the sampler fills templates made from ``nas_search`` trials.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from protocols.manifest import MANIFEST_COLUMNS
from search_spaces.genotypes import Genotype
from search_spaces.spaces import SPACES, SearchSpace, make_space
from workloads.base import CHOICE_PREFIX, GENOTYPE_NETWORK
from workloads.batches import SPLITS
from workloads.losses import LOSSES
from workloads.params import (
    ANY,
    FLAG,
    LIST,
    MAP,
    TEXT,
    integer,
    number,
    one_of,
    optional,
    param,
)
from workloads.train_params import RetrainParams, TrainEvalParams

#: Params that override a field of the named space (None: the space's own value).
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


@dataclass(frozen=True, kw_only=True)
class SpaceParams:
    """The search space a NAS trial names (``theta``/``gamma`` come from ``RetrainParams``)."""

    space: str = param(one_of(SPACES.names), "autofas")
    space_overrides: dict[str, Any] | None = param(optional(MAP), None)
    C: int | None = param(optional(integer(1)), None)
    layers: int | None = param(optional(integer(1)), None)
    input_size: int | None = param(optional(integer(8)), None)
    n_nodes: int | None = param(optional(integer(1)), None)
    stem_multiplier: int | None = param(optional(integer(1)), None)
    op_space: str | None = param(optional(one_of(("van", "cd"))), None)
    ops: list | None = param(optional(LIST), None)
    ratios: list | None = param(optional(LIST), None)
    head: str | None = param(optional(one_of(("map", "ce"))), None)
    pooling: str | None = param(optional(one_of(("max", "cdp"))), None)
    attention: bool | None = param(optional(FLAG), None)


@dataclass(frozen=True, kw_only=True)
class SearchParams(SpaceParams, RetrainParams):
    """``nas_search``: a space, the search's settings (None: the preset's) and the retrain's."""

    #: Null: the space's (its ``default_loss``, ``retrain_width``).
    loss: str | None = param(optional(one_of(LOSSES)), None)
    width: float | None = param(optional(number(gt=0)), None)
    k: int = param(integer(1), 4)
    search_epochs: int | None = param(integer(1), None)
    warmup_epochs: int | None = param(integer(0), None)
    search_batch_size: int = param(integer(1), 10)
    search_steps: int | None = param(optional(integer(1)), None)
    search_preset: str | None = param(one_of(("nas_fas", "auto_fas")), None)
    split: str = param(one_of(SPLITS), "random")
    domain_key: str | None = param(optional(one_of(MANIFEST_COLUMNS)), None)
    w_lr: float | None = param(number(gt=0), None)
    a_lr: float | None = param(number(gt=0), None)
    inner_lr: float | None = param(number(gt=0), None)
    meta_lr: float | None = param(number(gt=0), None)
    optimizer: str | None = param(one_of(("adam", "sgd")), None)
    w_schedule: str | None = param(one_of(("constant", "cosine")), None)
    unrolled: bool | None = param(FLAG, None)
    report_arch: bool = param(FLAG, False)
    stop_on_collapse: bool | None = param(FLAG, None)
    collapse_max_skip: int | None = param(integer(0), None)


@dataclass(frozen=True, kw_only=True)
class RandomSampleParams(SearchParams):
    """``random_sample``: a ``nas_search`` trial's params plus the sampled architecture."""

    sample_seed: int | None = param(integer(0), None)
    #: The sampler's choices (``arch.<name>`` params), by name.
    arch: dict[str, Any] = param(ANY, prefix=CHOICE_PREFIX)
    #: Labels of a sampled trial: the sampling algorithm and the trial it samples around.
    sampler: str | None = param(TEXT, None)
    template_key: str | None = param(TEXT, None)


def space_from_params(params: SearchParams) -> SearchSpace:
    """The search space the params name: preset ``space``, ``space_overrides``, flat keys."""
    overrides = dict(params.space_overrides or {})
    flat = {k: getattr(params, k) for k in FLAT_SPACE_KEYS}
    # None means "the space's own default" (an experiment shared by several spaces)
    overrides.update({k: v for k, v in flat.items() if v is not None})
    return make_space(params.space, **overrides)


def retrain_settings(params: SearchParams, space: SearchSpace) -> TrainEvalParams:
    """The ``train_eval`` params of a retrain in ``space`` (the genotype still to be set): the
    params' retrain settings; input size, width and loss default to the space's."""
    shared = {f.name: getattr(params, f.name) for f in dataclasses.fields(RetrainParams)}
    own = {
        "input_size": space.input_size if params.input_size is None else params.input_size,
        "width": space.retrain_width if params.width is None else params.width,
        "loss": space.default_loss if params.loss is None else params.loss,
    }
    return TrainEvalParams(**{**shared, **own}, network=GENOTYPE_NETWORK, C=params.C)


def retrain_params(genotype: Genotype, params: SearchParams) -> TrainEvalParams:
    """The ``train_eval`` params that retrain ``genotype``: defaults (width, loss, input size)
    from its space, where the trial's params leave them open."""
    settings = retrain_settings(params, genotype.make_space())
    return dataclasses.replace(settings, genotype=genotype.to_json(indent=None))
