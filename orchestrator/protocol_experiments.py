"""Protocol experiments: one retrain/eval job per fold (x network x seed) under a FAS protocol.

The network is a grid axis (``--set grid.network=[cdcn,cdcn_pp]``) or a genotype: ``--set
genotype=PATH.json``, inline genotype JSON or ``--set genotype=mlflow:RUN_ID`` (a search run's
``genotype.json``), so
a searched architecture goes straight into any protocol. ``--set threshold_policy=test_eer``
switches to the optimistic cross-dataset practice; tables then say so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path

from orchestrator.experiments import _ABLATION_PRESETS, _CDCN_PARAMS, EXPERIMENTS
from orchestrator.specs import ExperimentSpec, SpecError

#: The ablations' presets (CDCN at width 1/8); a smoke protocol job samples one frame per video
#: because a fan-out has many folds. ``resources.workers`` > 1 trains each job with Ray Train.
_PRESETS = {
    "smoke": {**_ABLATION_PRESETS["smoke"], "frames_per_video": 1},
    "quick": {**_ABLATION_PRESETS["quick"], "seeds": 2},
    "paper": _ABLATION_PRESETS["paper"],
}

PROTOCOL_EXPERIMENTS = {
    "protocol_oulu_npu": ("oulu_npu", "OULU-NPU P1-P4 (14 folds); P3/P4 as mean ± std."),
    "protocol_siw": ("siw", "SiW P1-P3 (7 folds)."),
    "protocol_ocim_lodo": ("ocim_lodo", "O/C/I/M leave-one-dataset-out: HTER and AUC per target."),
    "protocol_cim_loto": ("cim_loto", "C/I/M leave-one-attack-type-out: AUC per left-out type."),
    "protocol_siwm_loto": ("siwm_loto", "SiW-M leave-one-type-out: APCER/BPCER/ACER/EER per type."),
    "protocol_cdct": ("cdct", "Train OULU-NPU + SiW, test 3D masks: AUC/ACER/HTER, params, FLOPs."),
}

for _name, (_protocol, _about) in PROTOCOL_EXPERIMENTS.items():
    EXPERIMENTS.add(
        _name,
        ExperimentSpec(
            name=_name,
            workload="train_eval",
            protocol=_protocol,
            params={**_CDCN_PARAMS, "theta": 0.7, "threshold_policy": None, "genotype": None},
            grid={"network": ("cdcn",)},
            report="protocol",
            description=_about,
            presets=_PRESETS,
        ),
    )

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
        "network": "genotype",
        "genotype": genotype.to_json(indent=None),
        "genotype_source": source,
        "width": space.retrain_width,  # NAS-FAS doubles the search width, Auto-FAS keeps it
        "loss": space.default_loss,
    }
    grid = {k: v for k, v in spec.grid.items() if k != "network"}
    return dataclasses.replace(spec, params=params, grid=grid)
