"""Everything a user can get wrong in a spec, checked before any work starts.

``orchestrate run`` calls :func:`validate_spec` after presets and ``--set`` overrides and before
it touches data, MLflow or Ray, so a bad value is one line naming the field and what is valid
(a :class:`SpecError`), never a traceback from inside a trial or a silently meaningless result.

Params are checked against the workload's params dataclass (``WorkloadDef.params``, see
``workloads.params``): each value where it comes from (``params``, each ``grid`` value, each
variant bundle), so an error names the place, then every distinct param set a trial can see is
parsed (as the sampling workload's params too). Two guards ask for ``--yes-large``: a sweep of
more than :data:`MAX_TRIALS` trials, and a network (a workload's search space or a genotype's)
of more than :data:`MAX_NETWORK_OPS` op instances or :data:`MAX_CHANNELS` channels.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.specs import ExperimentSpec, SpecError
from workloads import params as trial_params
from workloads.base import GENOTYPE_NETWORK, WORKLOADS, WorkloadDef
from workloads.params import ParamError, UnknownParam, integer, is_number, number

#: Experiment names become MLflow experiment names, Tune folders and report file names.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
NAME_RULE = "1-100 characters from A-Z a-z 0-9 _ . -, not starting with '.' or '-'"
#: Above these a run needs ``--yes-large`` (the paper presets stay far below: at most 44 trials,
#: networks of at most 72 op instances and 64 search channels).
MAX_TRIALS = 1000
MAX_NETWORK_OPS = 500
MAX_CHANNELS = 512
LARGE_FLAG = "--yes-large"
#: Params every job gets from the spec itself (its seeds, its grid's variant), never given.
JOB_PARAMS = ("seed", "variant")


def _fail(field: str, value: Any, valid: str) -> SpecError:
    return SpecError(f"{field}={_show(value)}: expected {valid}")


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _key(value: Any) -> str:
    """Equality of grid values as a trial would see them (0 and 0.0 are the same point)."""
    if is_number(value):
        return repr(float(value))
    return json.dumps(value, sort_keys=True, default=str)


def check_name(name: Any) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise _fail("name", name, NAME_RULE)


def _check_structure(spec: ExperimentSpec) -> None:
    for field in ("workload", "protocol", "data_size", "report"):
        if not isinstance(getattr(spec, field), str):
            raise _fail(field, getattr(spec, field), "a string")
    for field in ("params", "grid", "resources", "variants", "sampling"):
        if not isinstance(getattr(spec, field), Mapping):
            raise _fail(field, getattr(spec, field), "a mapping")
    for axis, values in spec.grid.items():
        where = f"grid.{axis}"
        if not isinstance(values, (tuple, list)):
            raise _fail(where, values, "a list of values")
        if not values:
            raise SpecError(f"{where}: empty; give at least one value (or drop the axis)")
        seen: dict[str, Any] = {}
        for v in values:
            if _key(v) in seen:
                raise SpecError(
                    f"{where}: {_show(v)} is listed twice; each grid value must be distinct "
                    "(use seeds to repeat a point)"
                )
            seen[_key(v)] = v
    if not spec.seeds:
        raise SpecError("seeds: empty; expected a positive number of seeds or a list of seeds")
    for s in spec.seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise _fail("seeds", list(spec.seeds), "a positive count or a list of integers >= 0")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise SpecError(f"seeds: {list(spec.seeds)} repeats a seed; each seed must be distinct")
    if any(not isinstance(f, str) or not f for f in spec.folds):
        raise _fail("folds", list(spec.folds), "a list of fold names")
    if isinstance(spec.retries, bool) or not isinstance(spec.retries, int) or spec.retries < 0:
        raise _fail("retries", spec.retries, "an integer >= 0")
    for name, bundle in spec.variants.items():
        if not isinstance(bundle, Mapping):
            raise _fail(f"variants.{name}", bundle, "a mapping of params")


def _check_resources(resources: Mapping[str, Any]) -> None:
    unknown = sorted(set(resources) - {"cpu", "gpu", "workers"})
    if unknown:
        raise SpecError(f"resources.{unknown[0]}: unknown; resources are cpu, gpu and workers")
    if not number(gt=0).check(resources.get("cpu", 1)):
        raise _fail("resources.cpu", resources.get("cpu"), "a number > 0 (CPUs per trial)")
    if not number(ge=0).check(resources.get("gpu", 0)):
        raise _fail("resources.gpu", resources.get("gpu"), "a number >= 0 (GPUs per trial)")
    if not integer(1).check(resources.get("workers", 1)):
        raise _fail("resources.workers", resources.get("workers"), "an integer >= 1")


def _check_registries(spec: ExperimentSpec) -> None:
    from protocols.protocols import PROTOCOLS
    from synth import SYNTH_SIZES

    if spec.workload not in WORKLOADS:
        raise _fail("workload", spec.workload, "one of " + ", ".join(WORKLOADS.names()))
    if spec.protocol not in PROTOCOLS:
        raise _fail("protocol", spec.protocol, "one of " + ", ".join(PROTOCOLS.names()))
    if spec.data_size not in SYNTH_SIZES:
        raise _fail("data_size", spec.data_size, "one of " + ", ".join(SYNTH_SIZES))
    from orchestrator.report import REPORT_KINDS

    if spec.report not in REPORT_KINDS:
        raise _fail("report", spec.report, "one of " + ", ".join(REPORT_KINDS))
    if spec.sampling:
        cfg = spec.sampling
        samplable = [n for n in WORKLOADS.names() if WORKLOADS.get(n).choices is not None]
        if cfg.get("workload") not in samplable:
            raise _fail("sampling.workload", cfg.get("workload"), "one of " + ", ".join(samplable))
        if cfg.get("algorithm") not in ("random", "tpe"):
            raise _fail("sampling.algorithm", cfg.get("algorithm"), "one of random, tpe")
        if not integer(0).check(cfg.get("num_samples", 0)):
            raise _fail("sampling.num_samples", cfg.get("num_samples"), "an integer >= 0")
        if not integer(0).check(cfg.get("seed", 0)):
            raise _fail("sampling.seed", cfg.get("seed"), "an integer >= 0")


def _sources(spec: ExperimentSpec) -> Iterable[tuple[str, str, Any]]:
    """(field as the user wrote it, param name, value) for every value a trial can receive."""
    for key, value in spec.params.items():
        yield key, key, value
    for axis, values in spec.grid.items():
        if axis != "variant":
            for v in values:
                yield f"grid.{axis}", axis, v
    for name, bundle in spec.variants.items():
        for key, value in bundle.items():
            yield f"variants.{name}.{key}", key, value


def _check_params(spec: ExperimentSpec) -> None:
    variants = spec.grid.get("variant")
    if variants is not None:
        unknown = [v for v in variants if v not in spec.variants]
        if unknown:
            valid = ", ".join(spec.variants) or "(this experiment defines no variants)"
            raise SpecError(f"grid.variant={_show(unknown[0])}: expected one of {valid}")
    if "genotype" in spec.grid:
        raise SpecError(
            "grid.genotype: a genotype is not a grid axis; run once per genotype with "
            "--set genotype=PATH.json (or mlflow:RUN_ID)"
        )
    cls = WORKLOADS.get(spec.workload).params
    given = set(spec.params) | set(spec.grid)
    needed = trial_params.required(cls)
    missing = [k for k in needed if k not in given]
    if missing:
        raise SpecError(
            f"params: missing {', '.join(missing)} (workload {spec.workload!r} needs "
            + ", ".join(needed)
            + ")"
        )
    valid = [name for name in trial_params.names(cls) if name not in JOB_PARAMS]
    for field, key, value in _sources(spec):
        try:
            if key in JOB_PARAMS:
                raise UnknownParam(key, valid)
            trial_params.read(cls, key, value)
        except UnknownParam:
            raise SpecError(
                f"{field}: not a param of workload {spec.workload!r}; valid params: "
                + ", ".join(valid)
            ) from None
        except ParamError as exc:
            raise _fail(field, value, exc.valid) from None
    if spec.params.get("network") == GENOTYPE_NETWORK and not spec.params.get("genotype"):
        raise SpecError('network="genotype" needs --set genotype=PATH.json or mlflow:RUN_ID')


def _points(spec: ExperimentSpec) -> Iterable[tuple[str, dict[str, Any]]]:
    """(the grid point as text, its params) for every grid point (seeds and folds aside)."""
    axes = list(spec.grid)
    for point in itertools.product(*(spec.grid[a] for a in axes)):
        chosen = dict(zip(axes, point, strict=True))
        bundle = spec.variants.get(chosen.get("variant", ""), {})
        where = ", ".join(f"{k}={_show(v)}" for k, v in chosen.items()) or "params"
        yield where, {**spec.params, **bundle, **chosen}


def check_network_size(space: Any, where: str, allow_large: bool) -> None:
    """A network of more op instances or channels than the limits needs ``--yes-large``."""
    ops = space.layers * space.n_nodes * space.keep
    if allow_large:
        return
    if ops > MAX_NETWORK_OPS:
        raise SpecError(
            f"{where}: {space.layers} cells x {space.n_nodes} nodes x {space.keep} edges = {ops} "
            f"op instances (limit {MAX_NETWORK_OPS}); pass {LARGE_FLAG} to build it anyway"
        )
    if space.C > MAX_CHANNELS:
        raise SpecError(
            f"{where}: C={space.C} channels (limit {MAX_CHANNELS}); pass {LARGE_FLAG} to "
            "build it anyway"
        )


def _parse(workload: WorkloadDef, params: dict[str, Any], where: str) -> Any:
    try:
        return workload.parse(params)
    except ValueError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _check_points(spec: ExperimentSpec, allow_large: bool) -> None:
    """Every grid point parses as the workload's params (and, sampled, as the sampling
    workload's); a workload's search space is built (cheap: no weights) and size-checked."""
    workload = WORKLOADS.get(spec.workload)
    sampler = WORKLOADS.get(spec.sampling["workload"]) if spec.sampling else None
    for where, params in _points(spec):
        parsed = _parse(workload, params, where)
        if sampler is not None:
            _parse(sampler, params, f"{where} (as {spec.sampling['workload']})")
        if workload.search_space is None:
            continue
        try:
            space = workload.search_space(parsed)
        except (ValueError, TypeError, KeyError) as exc:
            message = exc.args[0] if exc.args else exc
            raise SpecError(f"search space of {where}: {message}") from None
        check_network_size(space, f"search space of {where}", allow_large)


def check_networks(spec: ExperimentSpec) -> None:
    """Every grid point's network can be built (its data config builds it; a genotype is
    resolved by then): e.g. a width too large for memory is one line naming the point, before
    any data is generated."""
    workload = WORKLOADS.get(spec.workload)
    for where, params in _points(spec):
        try:
            workload.data_config(workload.parse(params))
        except (RuntimeError, MemoryError, ValueError, TypeError, KeyError) as exc:
            raise SpecError(f"{where}: the network cannot be built ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args else exc) or type(exc).__name__
    return " ".join(text.split())[:200]


def n_trials(spec: ExperimentSpec) -> int:
    from protocols.protocols import PROTOCOLS

    return spec.n_trials(PROTOCOLS.get(spec.protocol).n_folds)


def validate_spec(spec: ExperimentSpec, allow_large: bool = False) -> ExperimentSpec:
    """Refuse a spec that cannot run or would run meaninglessly (a :class:`SpecError`)."""
    check_name(spec.name)
    _check_structure(spec)
    _check_resources(spec.resources)
    _check_registries(spec)
    _check_params(spec)
    total = n_trials(spec)
    if total > MAX_TRIALS and not allow_large:
        raise SpecError(
            f"{spec.name}: {total} trials (limit {MAX_TRIALS} without confirmation); check the "
            f"grid, seeds and folds, or pass {LARGE_FLAG} to start them"
        )
    _check_points(spec, allow_large)
    return canonical(spec)


def canonical(spec: ExperimentSpec) -> ExperimentSpec:
    """``spec`` with each whole number given for a real-valued param as that real number
    (``--set grid.theta=[0,0.7]`` reads 0 as an integer): the same value is the same trial, so
    its run key, label and MLflow param do not depend on how it was typed."""
    cls = WORKLOADS.get(spec.workload).params

    def value(key: str, given: Any) -> Any:
        if key in JOB_PARAMS or type(given) is not int:
            return given
        held = trial_params.read(cls, key, given)[2]
        return held if type(held) is float else given

    grid = {k: tuple(value(k, v) for v in values) for k, values in spec.grid.items()}
    params = {k: value(k, v) for k, v in spec.params.items()}
    return dataclasses.replace(spec, grid=grid, params=params)
