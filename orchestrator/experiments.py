"""Built-in experiments, registered by name; ``orchestrate run NAME`` looks them up here."""

from __future__ import annotations

from pathlib import Path

from orchestrator.registry import Registry
from orchestrator.specs import ExperimentSpec, SpecError, load_spec_file, with_preset

EXPERIMENTS: Registry[ExperimentSpec] = Registry(
    "experiment",
    "Built-in experiments: name -> ExperimentSpec (default fields plus smoke/quick/paper presets). "
    "Every preset must run on the embedded synthetic benchmark; `paper` uses the papers' settings.",
)

ELEVEN = tuple(round(0.1 * i, 1) for i in range(11))

#: Shared train_eval settings of the CDCN family (official CDCN training: Adam 1e-4, wd 5e-5,
#: lr halved every 500 epochs, depth MSE + contrastive depth loss).
_CDCN_PARAMS = {
    "network": "cdcn",
    "width": 1.0,
    "input_size": 256,
    "frames_per_video": 8,
    "representation": "static",
    "rank_k": 7,
    "loss": "depth",
    "epochs": 1400,
    "lr": 1e-4,
    "lr_step": 500,
    "weight_decay": 5e-5,
    "batch_size": 8,
    "augment": True,
}

#: Presets scale data, width and epochs; they never change what is studied.
_ABLATION_PRESETS = {
    "smoke": {
        "data_size": "smoke",
        "width": 0.125,
        "input_size": 32,
        "frames_per_video": 2,
        "epochs": 1,
        "batch_size": 32,
        "lr": 1e-3,
        "lr_step": 0,
        "seeds": 1,
    },
    "quick": {
        "data_size": "quick",
        "width": 0.125,
        "input_size": 48,
        "frames_per_video": 2,
        "epochs": 6,
        "batch_size": 32,
        "lr": 2e-3,
        "lr_step": 0,
        "seeds": 3,
    },
    "paper": {"data_size": "paper", "seeds": 1, "resources.gpu": 1, "resources.cpu": 4},
}


def _register(spec: ExperimentSpec) -> None:
    EXPERIMENTS.add(spec.name, spec)


_register(
    ExperimentSpec(
        name="ablation_cdc_theta",
        workload="train_eval",
        protocol="oulu_npu_p1",
        params=dict(_CDCN_PARAMS),
        grid={"theta": ELEVEN},
        description="CDCN with theta in {0.0, ..., 1.0} on OULU-NPU P1 (theta = 0 is DepthNet).",
        presets=_ABLATION_PRESETS,
    )
)

_register(
    ExperimentSpec(
        name="ablation_cdp_gamma",
        workload="train_eval",
        protocol="oulu_npu_p1",
        params={**_CDCN_PARAMS, "network": "cdn_cdp", "theta": 0.7},
        grid={"gamma": ELEVEN},
        description="CDN-CDP (CDP instead of max pooling) with gamma in {0.0, ..., 1.0} on OULU-NPU P1.",
        presets=_ABLATION_PRESETS,
    )
)


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
