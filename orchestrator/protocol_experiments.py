"""Protocol experiments: one retrain/eval job per fold (x network x seed) under a FAS protocol.

The network is a grid axis (``--set grid.network=[cdcn,cdcn_pp]``) or a genotype: ``--set
genotype=PATH.json`` or ``--set genotype=mlflow:RUN_ID`` (a search run's ``genotype.json``), so
a searched architecture goes straight into any protocol. ``--set threshold_policy=test_eer``
switches to the optimistic cross-dataset practice; tables then say so.
"""

from __future__ import annotations

import dataclasses
import json
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


def resolve_network(spec: ExperimentSpec, tracking_uri: str) -> ExperimentSpec:
    """Replace a ``genotype`` reference (file or MLflow run) by the genotype's JSON text.

    The job then retrains ``network="genotype"`` at its space's ``retrain_width`` times the
    search's ``C`` recorded in the genotype (NAS-FAS's spaces double it, Auto-FAS keeps it) with
    its space's ``default_loss`` (depth for the FAS space, binary masks otherwise);
    ``genotype_source`` keeps the reference for tables. The genotype is validated against its
    space here, before any trial starts.
    """
    ref = spec.params.get("genotype")
    if ref is None or str(ref).lstrip().startswith("{"):
        return spec
    from search_spaces.genotypes import Genotype, GenotypeError, validate_genotype

    ref = str(ref)
    if ref.startswith(GENOTYPE_RUN_PREFIX):
        from orchestrator.tracking import run_artifact_text

        text = run_artifact_text(tracking_uri, ref[len(GENOTYPE_RUN_PREFIX) :], "genotype.json")
    else:
        path = Path(ref)
        if not path.is_file():
            raise SpecError(
                f"genotype={ref!r}: no such file; give a genotype JSON file or "
                f"{GENOTYPE_RUN_PREFIX}RUN_ID of a search run"
            )
        text = path.read_text()
    try:
        genotype = Genotype.from_json(text)
        space = validate_genotype(genotype)
    except (GenotypeError, json.JSONDecodeError, KeyError) as exc:
        raise SpecError(f"genotype={ref!r}: {exc}") from None
    params = {
        **spec.params,
        "network": "genotype",
        "genotype": genotype.to_json(indent=None),
        "genotype_source": ref,
        "width": space.retrain_width,  # NAS-FAS doubles the search width, Auto-FAS keeps it
        "loss": space.default_loss,
    }
    grid = {k: v for k, v in spec.grid.items() if k != "network"}
    return dataclasses.replace(spec, params=params, grid=grid)
