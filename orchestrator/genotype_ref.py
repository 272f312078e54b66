"""A protocol experiment's ``genotype`` reference (inline JSON, a file or ``mlflow:RUN_ID``),
resolved to the genotype's JSON and validated against its space before any trial starts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path

from orchestrator.specs import ExperimentSpec, SpecError
from workloads.base import GENOTYPE_NETWORK

GENOTYPE_RUN_PREFIX = "mlflow:"


def _genotype_text(ref: object, tracking_uri: str | Callable[[], str]) -> tuple[str, str]:
    """(genotype JSON text, the reference as tables show it) for every form a genotype is given
    in: inline JSON (a string or, from YAML, a mapping), a file, or ``mlflow:RUN_ID``."""
    if isinstance(ref, Mapping) and list(ref) == [GENOTYPE_RUN_PREFIX[:-1]]:
        ref = GENOTYPE_RUN_PREFIX + str(ref[GENOTYPE_RUN_PREFIX[:-1]] or "")  # YAML read a map
    if isinstance(ref, Mapping):
        return json.dumps(ref), "inline"
    if not isinstance(ref, str) or not ref.strip():
        raise SpecError(f"genotype={ref!r}: expected {_FORMS}")
    if ref.lstrip().startswith("{"):
        return ref, "inline"
    if ref.startswith(GENOTYPE_RUN_PREFIX):
        run_id = ref[len(GENOTYPE_RUN_PREFIX) :].strip()
        if not run_id:
            raise SpecError(f"genotype={ref!r}: no run id; expected {GENOTYPE_RUN_PREFIX}RUN_ID")
        from orchestrator.tracking.views import run_artifact_text

        uri = tracking_uri() if callable(tracking_uri) else tracking_uri
        return run_artifact_text(uri, run_id, "genotype.json"), ref
    path = Path(ref)
    if not path.is_file():
        raise SpecError(f"genotype={ref!r}: no such file; expected {_FORMS}")
    try:
        return path.read_text(), ref
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"genotype={ref!r}: cannot read the file: {exc}") from None


_FORMS = (
    f"a genotype JSON file, inline genotype JSON or {GENOTYPE_RUN_PREFIX}RUN_ID of a search run"
)


def resolve_network(
    spec: ExperimentSpec, tracking_uri: str | Callable[[], str], allow_large: bool = False
) -> ExperimentSpec:
    """Replace a ``genotype`` reference (inline JSON, file or MLflow run) by the genotype's JSON.

    The job then retrains ``network="genotype"`` at its space's ``retrain_width`` times the
    search's ``C`` recorded in the genotype (NAS-FAS's spaces double it, Auto-FAS keeps it) with
    its space's ``default_loss`` (depth for the FAS space, binary masks otherwise);
    ``genotype_source`` keeps the reference for tables. The genotype is validated against its
    space here, before any trial starts, in every form it is given in, and a network above the
    size limits needs ``allow_large`` (``--yes-large``). ``tracking_uri`` may be a callable,
    called only for an ``mlflow:`` reference (nothing touches a store otherwise).
    """
    ref = spec.params.get("genotype")
    if ref is None:
        return spec
    from orchestrator.validation import check_network_size
    from search_spaces.genotypes import Genotype, validate_genotype

    text, source = _genotype_text(ref, tracking_uri)
    shown = source if source != "inline" else "inline JSON"
    try:
        genotype = Genotype.from_json(text)
        space = validate_genotype(genotype)
    except (ValueError, TypeError, KeyError) as exc:  # GenotypeError, JSON, space options
        problem = str(exc.args[0]) if exc.args else repr(exc)
        raise SpecError(f"genotype ({shown}): {problem}") from None
    check_network_size(space, f"genotype ({shown})", allow_large)
    if source == "inline":  # a row label that tells two inline genotypes apart
        digest = hashlib.sha256(genotype.to_json(indent=None).encode()).hexdigest()
        source = f"inline:{digest[:8]}"
    params = {
        **spec.params,
        "network": GENOTYPE_NETWORK,
        "genotype": genotype.to_json(indent=None),
        "genotype_source": source,
        "width": space.retrain_width,  # NAS-FAS doubles the search width, Auto-FAS keeps it
        "loss": space.default_loss,
    }
    grid = {k: v for k, v in spec.grid.items() if k != "network"}
    return dataclasses.replace(spec, params=params, grid=grid)
