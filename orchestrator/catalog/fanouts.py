"""Protocol experiments: one retrain/eval job per fold (x network x seed) under a FAS protocol.

The network is a grid axis (``--set grid.network=[cdcn,cdcn_pp]``) or a genotype: ``--set
genotype=PATH.json``, inline genotype JSON or ``--set genotype=mlflow:RUN_ID`` (a search run's
``genotype.json``, see ``orchestrator.genotype_ref``), so a searched architecture goes straight
into any protocol. ``--set threshold_policy=test_eer``
switches to the optimistic cross-dataset practice; tables then say so.
"""

from __future__ import annotations

from orchestrator.catalog.recipes import ABLATION_PRESETS, CDCN_PARAMS
from orchestrator.experiments import register
from orchestrator.specs import ExperimentSpec

#: The ablations' presets (CDCN at width 1/8); a smoke protocol job samples one frame per video
#: because a fan-out has many folds. ``resources.workers`` > 1 trains each job with Ray Train.
_PRESETS = {
    "smoke": {**ABLATION_PRESETS["smoke"], "frames_per_video": 1},
    "quick": {**ABLATION_PRESETS["quick"], "seeds": 2},
    "paper": ABLATION_PRESETS["paper"],
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
    register(
        ExperimentSpec(
            name=_name,
            workload="train_eval",
            protocol=_protocol,
            params={**CDCN_PARAMS, "theta": 0.7, "threshold_policy": None, "genotype": None},
            grid={"network": ("cdcn",)},
            report="protocol",
            description=_about,
            presets=_PRESETS,
        )
    )
