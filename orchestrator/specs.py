"""Experiment specs: a frozen description of a sweep, its presets and ``--set`` overrides.

A spec says which workload runs on which protocol with which fixed params, which params are swept
(``grid``), how many seeds repeat every point, and what one trial asks of the cluster. Presets
(``smoke``/``quick``/``paper``) are partial overrides of the same fields, so a preset can never
invent a field the spec does not have.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workloads.base import WORKLOADS
from workloads.params import names as param_names

PRESETS = ("smoke", "quick", "paper")


class SpecError(ValueError):
    """A spec, preset or override is invalid; the message names the field and what was expected."""


@dataclass(frozen=True)
class ExperimentSpec:
    """A sweep. ``grid`` values are swept as a product; the grid key ``variant`` names entries of
    ``variants`` (named bundles of params, e.g. ``SD-CD-CDP-Att`` = four flags)."""

    name: str
    workload: str
    protocol: str
    params: Mapping[str, Any]
    grid: Mapping[str, tuple] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    folds: tuple[str, ...] = ()
    resources: Mapping[str, float] = field(default_factory=lambda: {"cpu": 1, "gpu": 0})
    data_size: str = "smoke"
    retries: int = 2
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Optional sampled trials per (fold, grid point): ``{"workload", "algorithm": "random" |
    #: "tpe", "num_samples", "seed"}`` -- e.g. the random-sampling baseline of a NAS experiment.
    sampling: Mapping[str, Any] = field(default_factory=dict)
    report: str = "ablation"
    description: str = ""
    preset: str = "smoke"
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def n_trials(self, n_folds: int = 1) -> int:
        """Grid points x seeds x folds (``folds`` when the spec picks some), plus the sampled
        trials: ``sampling.num_samples`` per fold and grid point."""
        points = len(self.folds) if self.folds else max(n_folds, 1)
        for values in self.grid.values():
            points *= len(values)
        return points * len(self.seeds) + points * int(self.sampling.get("num_samples", 0))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("presets")
        return json.loads(json.dumps(d, default=list))


def _check_type(key: str, old: Any, new: Any) -> Any:
    """Coerce ``new`` to the type of ``old`` where that is lossless, else raise naming the key."""
    if old is None:
        return new
    if isinstance(old, bool):
        if isinstance(new, bool):
            return new
    elif isinstance(old, int):
        if isinstance(new, int) and not isinstance(new, bool):
            return new
    elif isinstance(old, float):
        if isinstance(new, (int, float)) and not isinstance(new, bool):
            return float(new)
    elif isinstance(old, str):
        if isinstance(new, str):
            return new
    elif isinstance(old, (tuple, list)):
        if isinstance(new, (list, tuple)):
            return tuple(new)
        return (new,)
    elif isinstance(old, Mapping):
        if isinstance(new, Mapping):
            return dict(new)
    else:
        return new
    raise SpecError(
        f"--set {key}: expected {type(old).__name__} (like {old!r}), got {type(new).__name__} {new!r}"
    )


def check_workers(where: str, value: Any) -> int:
    """``resources.workers``: data-parallel workers per trial (1: a plain trial; N > 1: a Ray
    Train run of N workers, each with the trial's cpu/gpu)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: resources.workers must be a positive integer, got {value!r}")
    return value


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; every spec value means it as a number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _parse_value(key: str, text: str) -> Any:
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", "") or "invalid YAML").split())
        raise SpecError(f"--set {key}: cannot parse value {text!r} ({problem})") from None


def parse_seeds(where: str, value: Any) -> tuple[int, ...]:
    """``3`` means seeds (0, 1, 2); a list names them. Anything else is an error naming ``where``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SpecError(f"{where}: expected a positive number of seeds or a list; got {value}")
        return tuple(range(value))
    items = value if isinstance(value, (list, tuple)) else None
    if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in items):
        raise SpecError(
            f"{where}: expected a positive number of seeds or a list of integers >= 0; "
            f"got {value!r}"
        )
    return tuple(items)


def _declared_params(workload: str) -> set[str]:
    """The params ``workload`` declares (none for an unknown workload: validation names it)."""
    if workload not in WORKLOADS:
        return set()
    return set(param_names(WORKLOADS.get(workload).params))


def apply_overrides(spec: ExperimentSpec, overrides: Mapping[str, Any]) -> ExperimentSpec:
    """Apply ``key=value`` overrides: spec fields, ``grid.NAME``, ``resources.NAME`` or params
    (the spec's, or any its workload declares with a default, e.g. ``precision``).

    ``seeds=3`` means seeds (0, 1, 2); ``seeds=[4, 7]`` lists them. A key that is none of the above
    is an error listing the valid keys; a value of the wrong type is an error naming the key.
    """
    fields = {f.name for f in dataclasses.fields(spec)} - {"name", "presets", "preset", "params"}
    changes: dict[str, Any] = {}
    params = dict(spec.params)
    grid = dict(spec.grid)
    resources = dict(spec.resources)
    for key, raw in overrides.items():
        value = _parse_value(key, raw) if isinstance(raw, str) else raw
        if key == "seeds":
            changes["seeds"] = parse_seeds("--set seeds", value)
        elif key.startswith("grid."):
            name = key.split(".", 1)[1]
            if name not in grid and name not in params:
                raise SpecError(f"--set {key}: {name!r} is not a param; params: {sorted(params)}")
            grid[name] = _check_type(key, (), value)
            params.pop(name, None)
        elif key.startswith("sampling."):
            name = key.split(".", 1)[1]
            if name not in spec.sampling:
                raise SpecError(f"--set {key}: {spec.name} has no sampling field {name!r}")
            changes["sampling"] = {
                **changes.get("sampling", spec.sampling),
                name: _check_type(key, spec.sampling[name], value),
            }
        elif key.startswith("resources."):
            name = key.split(".", 1)[1]
            if name not in ("cpu", "gpu", "workers"):
                raise SpecError(f"--set {key}: resources are 'cpu', 'gpu' and 'workers'")
            if name == "workers":
                resources[name] = check_workers(f"--set {key}", value)
            else:
                resources[name] = float(_check_type(key, 1.0, value))
        elif key in ("grid", "resources"):  # the whole mapping: checked by validation
            whole = _check_type(key, {}, value)
            if key == "grid":
                grid = {str(k): _check_type(f"grid.{k}", (), v) for k, v in whole.items()}
            else:
                resources = whole
        elif key in ("folds",):
            changes[key] = _check_type(key, (), value)
        elif key in fields:
            changes[key] = _check_type(key, getattr(spec, key), value)
        elif key in params:
            params[key] = _check_type(key, params[key], value)
        elif key in grid:
            grid[key] = _check_type(key, (), value)
        elif key in _declared_params(spec.workload):  # one with a default: validation types it
            params[key] = value
        else:
            valid = sorted(
                {"seeds", "folds", "resources.cpu", "resources.gpu", "resources.workers"}
                | (fields - {"grid", "resources"})
                | set(params)
                | {f"grid.{g}" for g in grid}
            )
            raise SpecError(
                f"unknown --set key {key!r} for experiment {spec.name!r}; valid keys: "
                + ", ".join(valid)
            )
    return dataclasses.replace(spec, params=params, grid=grid, resources=resources, **changes)


def with_preset(spec: ExperimentSpec, preset: str) -> ExperimentSpec:
    if preset not in PRESETS:
        raise SpecError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    overrides = spec.presets.get(preset, {})
    return dataclasses.replace(apply_overrides(spec, overrides), preset=preset)


def parse_set_options(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise SpecError(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def load_spec_file(path: Path) -> ExperimentSpec:
    """A YAML/JSON spec file with the fields of ``ExperimentSpec`` (grid values as lists)."""
    try:
        data = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec file {path}: expected a mapping of spec fields")
    known = {f.name for f in dataclasses.fields(ExperimentSpec)}
    unknown = set(data) - known
    if unknown:
        raise SpecError(
            f"spec file {path}: unknown fields {sorted(unknown)}; valid: {sorted(known)}"
        )
    missing = {"name", "workload", "protocol", "params"} - set(data)
    if missing:
        raise SpecError(f"spec file {path}: missing required fields {sorted(missing)}")
    for key in ("params", "grid", "resources", "variants", "sampling", "presets"):
        if data.get(key) is not None and not isinstance(data[key], Mapping):
            raise SpecError(f"spec file {path}: {key} must be a mapping; got {data[key]!r}")
    grid = data.get("grid") or {}
    for axis, values in grid.items():
        if not isinstance(values, list):
            raise SpecError(
                f"spec file {path}: grid.{axis} must be a list of values; got {values!r}"
            )
    data["grid"] = {str(k): tuple(v) for k, v in grid.items()}
    if "workers" in (data.get("resources") or {}):
        check_workers(f"spec file {path}", data["resources"]["workers"])
    if "seeds" in data:
        data["seeds"] = parse_seeds(f"spec file {path}: seeds", data["seeds"])
    if "folds" in data:
        folds = data["folds"]
        if not isinstance(folds, list) or not all(isinstance(f, str) for f in folds):
            raise SpecError(f"spec file {path}: folds must be a list of fold names; got {folds!r}")
        data["folds"] = tuple(folds)
    return ExperimentSpec(**data)
