"""Per-workload param schemas: what each param a workload reads may be, declared as data.

``PARAM_SCHEMAS[workload][param]`` is a :class:`Rule` (a check and the text an error shows);
``REQUIRED_PARAMS`` lists what a workload reads without a default; ``PARAM_PREFIXES`` the name
prefixes it takes beyond its schema. A new workload adds its entry here (a workload without one
gets only the structural checks of ``orchestrator.validation``). Choices that live in registries
(networks, spaces, losses) are read when checked, so a newly registered name is valid at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """What a param value may be: ``check(value)`` and ``valid()``, the text an error shows."""

    check: Callable[[Any], bool]
    valid: Callable[[], str]


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def integer(low: int) -> Rule:
    return Rule(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low,
        lambda: f"an integer >= {low}",
    )


def number(gt: float | None = None, ge: float | None = None, le: float | None = None) -> Rule:
    def check(v: Any) -> bool:
        return (
            is_number(v)
            and (gt is None or v > gt)
            and (ge is None or v >= ge)
            and (le is None or v <= le)
        )

    if ge is not None and le is not None:
        text = f"a number in [{ge:g}, {le:g}]"
    else:
        text = (
            "a number"
            + (f" > {gt:g}" if gt is not None else "")
            + (f" >= {ge:g}" if ge is not None else "")
        )
    return Rule(check, lambda: text)


def one_of(names: Callable[[], Iterable[str]] | Iterable[str]) -> Rule:
    get = names if callable(names) else (lambda fixed=tuple(names): fixed)
    return Rule(
        lambda v: isinstance(v, str) and v in set(get()), lambda: "one of " + ", ".join(get())
    )


def optional(rule: Rule) -> Rule:
    return Rule(lambda v: v is None or rule.check(v), lambda: rule.valid() + ", or null")


def either(a: Rule, b: Rule) -> Rule:
    return Rule(lambda v: a.check(v) or b.check(v), lambda: f"{a.valid()}, or {b.valid()}")


FLAG = Rule(lambda v: isinstance(v, bool), lambda: "true or false")
TEXT = Rule(lambda v: isinstance(v, str) and v != "", lambda: "a non-empty string")
ANY = Rule(lambda v: True, lambda: "anything")
UNIT = number(ge=0.0, le=1.0)


def _networks() -> list[str]:
    from search_spaces.nets import NETWORKS

    return [*NETWORKS.names(), "genotype"]


def _spaces() -> list[str]:
    from search_spaces.spaces import SPACES

    return SPACES.names()


def _splits() -> tuple[str, ...]:
    from workloads.search import SPLITS

    return SPLITS


def _representations() -> tuple[str, ...]:
    from workloads.rankpool import REPRESENTATIONS

    return REPRESENTATIONS


def _losses() -> tuple[str, ...]:
    from workloads.losses import LOSSES

    return LOSSES


def _manifest_columns() -> list[str]:
    from protocols.manifest import MANIFEST_COLUMNS

    return list(MANIFEST_COLUMNS)


#: train_eval and the retrain of both NAS workloads.
_RETRAIN: dict[str, Rule] = {
    "epochs": integer(1),
    "lr": number(gt=0),
    "lr_step": integer(0),
    "weight_decay": number(ge=0),
    "batch_size": integer(1),
    "frames_per_video": integer(1),
    "representation": one_of(_representations),
    "rank_k": integer(1),
    "loss": one_of(_losses),
    "augment": FLAG,
    "width": number(gt=0),
    "theta": UNIT,
    "gamma": UNIT,
    "threshold_policy": optional(either(one_of(("fold", "dev_eer", "test_eer")), number())),
    "genotype": optional(either(TEXT, Rule(lambda v: isinstance(v, Mapping), lambda: "a map"))),
    "genotype_source": TEXT,
}
#: The search-space fields the NAS workloads take as flat params (None: the space's default).
SPACE_PARAMS: dict[str, Rule] = {
    "space": one_of(_spaces),
    "space_overrides": optional(ANY),
    "C": optional(integer(1)),
    "layers": optional(integer(1)),
    "input_size": optional(integer(8)),
    "n_nodes": optional(integer(1)),
    "stem_multiplier": optional(integer(1)),
    "op_space": optional(one_of(("van", "cd"))),
    "ops": optional(ANY),
    "ratios": optional(ANY),
    "head": optional(one_of(("map", "ce"))),
    "pooling": optional(one_of(("max", "cdp"))),
    "attention": optional(FLAG),
}
_SEARCH: dict[str, Rule] = {
    "k": integer(1),
    "search_epochs": integer(1),
    "warmup_epochs": integer(0),
    "search_batch_size": integer(1),
    "search_steps": optional(integer(1)),
    "search_preset": one_of(("nas_fas", "auto_fas")),
    "split": one_of(_splits),
    "domain_key": optional(one_of(_manifest_columns)),
    "w_lr": number(gt=0),
    "a_lr": number(gt=0),
    "inner_lr": number(gt=0),
    "meta_lr": number(gt=0),
    "optimizer": one_of(("adam", "sgd")),
    "w_schedule": one_of(("constant", "cosine")),
    "unrolled": FLAG,
    "report_arch": FLAG,
    "stop_on_collapse": FLAG,
    "collapse_max_skip": integer(0),
}
#: Workload -> param name -> rule. A param name outside its workload's schema is refused.
PARAM_SCHEMAS: dict[str, dict[str, Rule]] = {
    "train_eval": {
        **_RETRAIN,
        "network": one_of(_networks),
        "input_size": integer(8),
        "C": optional(integer(1)),
    },
    "nas_search": {**_RETRAIN, **SPACE_PARAMS, **_SEARCH},
    "random_sample": {
        **_RETRAIN,
        **SPACE_PARAMS,
        "sample_seed": integer(0),
        "sampler": TEXT,
        "template_key": TEXT,
    },
}
#: Params a workload reads without a default.
REQUIRED_PARAMS = {
    "train_eval": (
        "network",
        "input_size",
        "frames_per_video",
        "epochs",
        "lr",
        "weight_decay",
        "batch_size",
    ),
}
#: Param-name prefixes a workload takes beyond its schema (random_sample's sampled choices).
PARAM_PREFIXES = {"random_sample": ("arch.",)}
