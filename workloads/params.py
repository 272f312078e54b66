"""Typed trial parameters: a workload's params are a frozen dataclass (a :class:`TrialParams`)
whose fields declare their type, default and rule; :func:`parse` turns a trial's flat config into
one, so a workload never coerces a value by hand.

A field is declared with :func:`param`: ``epochs: int = param(integer(1), 60)``; without a
default it is required. ``param(rule, prefix="arch.")`` gathers every ``arch.<name>`` key into a
dict ``{name: value}``. Choices that live in registries (networks, spaces, losses) are read when
checked, so a newly registered name is valid at once.

Values are JSON (a spec file, ``--set``, a Ray or MLflow config). A text value of a field that is
not text is read as JSON (``"4"``, ``"false"``, a JSON object) and an int is a valid float; any
other value that breaks a rule is a :class:`ParamError` naming the param, the value and what is
valid. The config itself stays a flat dict of plain values: run keys hash it, Ray and MLflow see it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

_RULE, _PREFIX = "rule", "prefix"


class ParamError(ValueError):
    """A param's value breaks its rule."""

    def __init__(self, name: str, value: Any, valid: str) -> None:
        self.name, self.value, self.valid = name, value, valid
        super().__init__(f"{name}={value!r}: expected {valid}")


class UnknownParam(ValueError):
    """A config key that is no param of the workload."""

    def __init__(self, name: str, valid: list[str]) -> None:
        self.name, self.valid = name, valid
        super().__init__(f"{name}: not a param; valid params: {', '.join(valid)}")


class MissingParams(ValueError):
    """Params the workload needs and the config does not give."""

    def __init__(self, missing: list[str], required: list[str]) -> None:
        self.missing, self.required = missing, required
        super().__init__(f"missing {', '.join(missing)} (needs {', '.join(required)})")


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Rule:
    """What a param value may be: ``check(value)``, ``valid()`` (the text an error shows) and
    ``convert`` (to the field's type, e.g. an int given for a float)."""

    check: Callable[[Any], bool]
    valid: Callable[[], str]
    convert: Callable[[Any], Any] = _same

    def read(self, name: str, value: Any) -> Any:
        """``value`` as the field holds it, or a :class:`ParamError`."""
        if self.check(value):
            return self.convert(value)
        if isinstance(value, str):  # text from --set or MLflow: read as JSON
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = value
            if decoded is not value and self.check(decoded):
                return self.convert(decoded)
        raise ParamError(name, value, self.valid())


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
    return Rule(check, lambda: text, float)


def one_of(names: Callable[[], Iterable[str]] | Iterable[str]) -> Rule:
    """A name from ``names``: fixed, or a callable read at check time (a registry's names)."""
    get = names if callable(names) else (lambda fixed=tuple(names): fixed)
    return Rule(
        lambda v: isinstance(v, str) and v in set(get()), lambda: "one of " + ", ".join(get())
    )


def optional(rule: Rule) -> Rule:
    """``rule``, or null (the field's default meaning, e.g. "the space's own")."""
    return Rule(
        lambda v: v is None or rule.check(v),
        lambda: rule.valid() + ", or null",
        lambda v: None if v is None else rule.convert(v),
    )


def either(a: Rule, b: Rule) -> Rule:
    return Rule(
        lambda v: a.check(v) or b.check(v),
        lambda: f"{a.valid()}, or {b.valid()}",
        lambda v: a.convert(v) if a.check(v) else b.convert(v),
    )


FLAG = Rule(lambda v: isinstance(v, bool), lambda: "true or false")
TEXT = Rule(lambda v: isinstance(v, str) and v != "", lambda: "a non-empty string")
ANY = Rule(lambda v: True, lambda: "anything")
UNIT = number(ge=0.0, le=1.0)
MAP = Rule(lambda v: isinstance(v, Mapping), lambda: "a map", dict)
LIST = Rule(lambda v: isinstance(v, (list, tuple)), lambda: "a list", list)


def param(rule: Rule, default: Any = dataclasses.MISSING, *, prefix: str = "") -> Any:
    """A params dataclass field checked by ``rule``; required without a default. A ``prefix``
    field takes every ``<prefix><name>`` key (each checked by ``rule``) as ``{name: value}``."""
    if prefix:
        return dataclasses.field(default_factory=dict, metadata={_RULE: rule, _PREFIX: prefix})
    return dataclasses.field(default=default, metadata={_RULE: rule})


@dataclass(frozen=True, kw_only=True)
class TrialParams:
    """What every trial's config carries: the orchestrator adds ``seed`` (from the spec's seeds)
    and, for a grid of variants, the ``variant`` name (a label for tables that no workload reads).
    A workload's params type subclasses this one."""

    seed: int = param(integer(0), 0)
    #: A checkpoint every N epochs when the caller stores them (0: none).
    checkpoint_every: int = param(integer(0), 1)
    variant: str | None = param(TEXT, None)


P = TypeVar("P", bound=TrialParams)


def names(cls: type) -> list[str]:
    """The param names of ``cls`` (a prefix field as ``<prefix><name>``)."""
    fields = dataclasses.fields(cls)
    return sorted(
        f.metadata[_PREFIX] + "<name>" if _PREFIX in f.metadata else f.name for f in fields
    )


def required(cls: type) -> list[str]:
    """The params of ``cls`` without a default."""
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


def read(cls: type, key: str, value: Any) -> tuple[str, str | None, Any]:
    """One config entry as ``cls`` takes it: (field, the name under a prefix field or None, the
    value as the field holds it). An unknown key is an :class:`UnknownParam`, a value breaking
    its rule a :class:`ParamError`."""
    for f in dataclasses.fields(cls):
        prefix = f.metadata.get(_PREFIX)
        if prefix is None and f.name == key:
            return f.name, None, f.metadata[_RULE].read(key, value)
        if prefix is not None and key.startswith(prefix):
            return f.name, key[len(prefix) :], f.metadata[_RULE].read(key, value)
    raise UnknownParam(key, names(cls))


def parse(cls: type[P], config: Mapping[str, Any]) -> P:
    """The params ``config`` (a trial's flat config) gives: every key read by its field's rule,
    every required field given."""
    given: dict[str, Any] = {}
    for key, value in config.items():
        field, name, held = read(cls, key, value)
        if name is None:
            given[field] = held
        else:
            given.setdefault(field, {})[name] = held
    missing = [name for name in required(cls) if name not in given]
    if missing:
        raise MissingParams(missing, required(cls))
    return cls(**given)
