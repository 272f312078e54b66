"""The experiments registry: ``orchestrate run NAME`` looks NAME up here.

This module is the contract; the built-in experiments live in ``orchestrator/catalog/``.
"""

from __future__ import annotations

from pathlib import Path

from core.registry import Registry
from orchestrator.specs import ExperimentSpec, SpecError, load_spec_file, with_preset

EXPERIMENTS: Registry[ExperimentSpec] = Registry(
    "experiment",
    "Built-in experiments: name -> ExperimentSpec (default fields plus smoke/quick/paper presets). "
    "Every preset must run on the embedded synthetic benchmark; `paper` uses the papers' settings.",
    entries="orchestrator.catalog",
)


def register(spec: ExperimentSpec) -> ExperimentSpec:
    """Register a built-in experiment under its name."""
    return EXPERIMENTS.add(spec.name, spec)


def resolve_experiment(name_or_path: str, preset: str) -> ExperimentSpec:
    """A registered name or a spec file path, with the preset applied."""
    path = Path(name_or_path)
    if name_or_path in EXPERIMENTS:
        spec = EXPERIMENTS.get(name_or_path)
    elif path.suffix in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise SpecError(f"spec file {path} does not exist")
        spec = load_spec_file(path)
    else:
        try:
            EXPERIMENTS.get(name_or_path)
        except KeyError as exc:
            raise SpecError(
                str(exc.args[0]) + " (or give a path to a .yaml/.json spec file)"
            ) from None
    return with_preset(spec, preset)
