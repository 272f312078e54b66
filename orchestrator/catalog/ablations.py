"""The θ (CDC) and γ (CDP) ablations on OULU-NPU P1 (NAS-FAS Fig. 6 and Table II)."""

from orchestrator.catalog.recipes import ABLATION_PRESETS, CDCN_PARAMS, ELEVEN, QUICK_GRID
from orchestrator.experiments import register
from orchestrator.specs import ExperimentSpec

register(
    ExperimentSpec(
        name="ablation_cdc_theta",
        workload="train_eval",
        protocol="oulu_npu_p1",
        params=dict(CDCN_PARAMS),
        grid={"theta": ELEVEN},
        description="CDCN with theta in {0.0, ..., 1.0} on OULU-NPU P1 (theta = 0 is DepthNet).",
        presets={
            **ABLATION_PRESETS,
            "quick": {**ABLATION_PRESETS["quick"], "grid.theta": QUICK_GRID},
        },
    )
)

register(
    ExperimentSpec(
        name="ablation_cdp_gamma",
        workload="train_eval",
        protocol="oulu_npu_p1",
        params={**CDCN_PARAMS, "network": "cdn_cdp", "theta": 0.7},
        grid={"gamma": ELEVEN},
        description="CDN-CDP (CDP instead of max pooling) with gamma in {0.0, ..., 1.0} on OULU-NPU P1.",
        presets={
            **ABLATION_PRESETS,
            "quick": {**ABLATION_PRESETS["quick"], "grid.gamma": QUICK_GRID},
        },
    )
)
