"""Built-in experiments, registered by name; ``orchestrate run NAME`` looks them up here."""

from __future__ import annotations

from pathlib import Path

from core.registry import Registry
from orchestrator.specs import ExperimentSpec, SpecError, load_spec_file, with_preset

EXPERIMENTS: Registry[ExperimentSpec] = Registry(
    "experiment",
    "Built-in experiments: name -> ExperimentSpec (default fields plus smoke/quick/paper presets). "
    "Every preset must run on the embedded synthetic benchmark; `paper` uses the papers' settings.",
)

ELEVEN = tuple(round(0.1 * i, 1) for i in range(11))
#: The quick preset's theta/gamma values: the reference, the ends and the papers' 0.7, three seeds
#: each, so the demo (install, data and 12 trials) stays within 15 minutes on 2 cores.
QUICK_GRID = (0.0, 0.4, 0.7, 1.0)

#: Shared train_eval settings of the CDCN family (official CDCN training: Adam 1e-4, wd 5e-5,
#: lr halved every 500 epochs, depth MSE + contrastive depth loss); NAS-FAS trains for at most
#: 1300 epochs (the CDCN code's default is 1400).
_CDCN_PARAMS = {
    "network": "cdcn",
    "width": 1.0,
    "input_size": 256,
    "frames_per_video": 8,
    "representation": "static",
    "rank_k": 7,
    "loss": "depth",
    "epochs": 1300,
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
    # The laptop demo: 20 training subjects (fewer do not generalise to new faces), 10 test
    # subjects (intervals need them), lr 1e-3 (2e-3 and above stalls some seeds at the all-zero
    # map of the depth loss's ReLU head), 10 epochs: ~80 s a trial on one core.
    "quick": {
        "data_size": "quick",
        "width": 0.125,
        "input_size": 48,
        "frames_per_video": 2,
        "epochs": 10,
        "batch_size": 32,
        "lr": 1e-3,
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
        presets={
            **_ABLATION_PRESETS,
            "quick": {**_ABLATION_PRESETS["quick"], "grid.theta": QUICK_GRID},
        },
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
        presets={
            **_ABLATION_PRESETS,
            "quick": {**_ABLATION_PRESETS["quick"], "grid.gamma": QUICK_GRID},
        },
    )
)


# --- NAS experiments (NAS-FAS Tables III-V, VII; Auto-FAS) ------------------------------------

#: Shared nas_search/random_sample settings: NAS-FAS search (Adam 1e-4 / arch 6e-4, batch 10,
#: 60 epochs with 15 frozen), retrain with doubled channels for at most 1300 epochs, the FAS space
#: supervised like CDCN (depth MSE + CDL); the paper preset keeps them. Binary masks belong to
#: the baseline space's DP trials and Auto-FAS, which also retrains at its search width.
_NAS_PARAMS = {
    "space": "fas_cd",
    "C": None,  # None: the space's own default (search width, cells, input size)
    "layers": None,
    "input_size": None,
    "search_steps": None,
    "representation": "static",
    "k": 4,
    "search_epochs": 60,
    "warmup_epochs": 15,
    "search_batch_size": 10,
    "split": "random",
    "epochs": 1300,
    "lr": 1e-4,
    "lr_step": 500,
    "weight_decay": 5e-5,
    "batch_size": 8,
    "width": 2.0,
    "loss": "depth",
    "frames_per_video": 8,
    "augment": True,
}
#: The baseline space (and Auto-FAS): pixel-wise binary-mask supervision (CE trials use BCE on
#: the label whatever ``loss`` says).
_BINARY = {"loss": "binary"}
_NAS_PRESETS = {
    "smoke": {
        "data_size": "smoke",
        "C": 4,
        "layers": 3,
        "input_size": 32,
        "search_epochs": 2,
        "warmup_epochs": 1,
        "search_steps": 2,
        "search_batch_size": 16,
        "epochs": 1,
        "lr": 1e-3,
        "lr_step": 0,
        "batch_size": 32,
        "frames_per_video": 1,
        "seeds": 1,
    },
    "quick": {
        "data_size": "quick",
        "C": 8,
        "layers": 3,
        "input_size": 48,
        "search_epochs": 6,
        "warmup_epochs": 2,
        "search_steps": 20,
        "search_batch_size": 16,
        "epochs": 5,
        "lr": 2e-3,
        "lr_step": 0,
        "batch_size": 32,
        "frames_per_video": 2,
        "seeds": 2,
    },
    "paper": {"data_size": "paper", "seeds": 1, "resources.gpu": 1, "resources.cpu": 4},
}


def _flags(name: str) -> dict:
    """``SD-CD-CDP-Att`` -> input, op space, pooling and attention flags (FAS space)."""
    parts = name.split("-")
    return {
        "representation": "static_dynamic" if parts[0] == "SD" else "static",
        "space": "fas_cd" if parts[1] == "CD" else "fas_van",
        "pooling": "cdp" if "CDP" in parts else "max",
        "attention": "Att" in parts,
    }


_FAS_TRIALS = [
    f"{i}-{t}"
    for i in ("S", "SD")
    for t in ("Van-Max", "CD-Max", "CD-CDP", "CD-Max-Att", "CD-CDP-Att")
]
_register(
    ExperimentSpec(
        name="nas_fas_space",
        workload="nas_search",
        protocol="oulu_npu_p1",
        params=dict(_NAS_PARAMS),
        grid={"variant": tuple(_FAS_TRIALS)},
        variants={name: _flags(name) for name in _FAS_TRIALS},
        report="variants",
        description="PC-DARTS in the NAS-FAS FAS space: S/SD x Van/CD x Max/CDP x Att (10 trials).",
        presets=_NAS_PRESETS,
    )
)

_BASELINE_TRIALS = {
    f"{i}-{o}-{h}": {
        "representation": "static_dynamic" if i == "SD" else "static",
        "space": "baseline_cd" if o == "CD" else "baseline_van",
        "head": "ce" if h == "CE" else "map",
    }
    for i in ("S", "SD")
    for o in ("Van", "CD")
    for h in ("CE", "DP")
}
_register(
    ExperimentSpec(
        name="nas_baseline_space",
        workload="nas_search",
        protocol="oulu_npu_p1",
        params={**_NAS_PARAMS, "space": "baseline_van", **_BINARY},
        grid={"variant": tuple(_BASELINE_TRIALS)},
        variants=_BASELINE_TRIALS,
        report="variants",
        description="PC-DARTS in the NAS-FAS baseline space: S/SD x Van/CD x CE/DP (8 trials).",
        presets={**_NAS_PRESETS, "smoke": {**_NAS_PRESETS["smoke"], "layers": 5}},
    )
)

#: Each space with its own supervision (its random samples inherit it).
_RI_SPACES = {
    "Van-Baseline": {"space": "baseline_van", **_BINARY},
    "CD-Baseline": {"space": "baseline_cd", **_BINARY},
    "Van-FAS": {"space": "fas_van", "loss": "depth"},
    "CD-FAS": {"space": "fas_cd", "loss": "depth"},
}
_register(
    ExperimentSpec(
        name="ri_random_sampling",
        workload="nas_search",
        protocol="oulu_npu_p1",
        params=dict(_NAS_PARAMS),
        grid={"variant": tuple(_RI_SPACES)},
        variants=_RI_SPACES,
        sampling={"workload": "random_sample", "algorithm": "random", "num_samples": 10, "seed": 0},
        report="ri",
        description="NAS vs random sampling (Optuna RandomSampler) in four spaces; RI on ACER.",
        presets={
            **_NAS_PRESETS,
            # layers: each space keeps its own depth (the FAS space has exactly three cells)
            "smoke": {**_NAS_PRESETS["smoke"], "layers": None, "sampling.num_samples": 2},
            # one search per space: NAS vs random is judged against the random samples' spread,
            # and the baseline space's 9-cell searches take ~12 min each on 2 CPU cores
            "quick": {
                **_NAS_PRESETS["quick"],
                "layers": None,
                "sampling.num_samples": 4,
                "seeds": 1,
            },
        },
    )
)

_register(
    ExperimentSpec(
        name="autofas_search",
        workload="nas_search",
        protocol="oulu_npu_p1",
        params={
            **_NAS_PARAMS,
            "space": "autofas",
            "search_preset": "auto_fas",
            "search_epochs": 40,
            "warmup_epochs": 15,
            "search_batch_size": 256,
            "input_size": 108,
            "width": 1.0,  # Auto-FAS retrains at the search width (0.27M params)
            **_BINARY,
        },
        grid={"variant": ("CE", "DP")},
        variants={"CE": {"head": "ce"}, "DP": {"head": "map"}},
        report="variants",
        description="Auto-FAS: PC-DARTS, 108x108 in, 14x14 binary map (DP) vs a CE score head.",
        presets={
            **_NAS_PRESETS,
            "smoke": {**_NAS_PRESETS["smoke"], "input_size": 36, "layers": 5},
            "quick": {**_NAS_PRESETS["quick"], "input_size": 54, "layers": 5},
        },
    )
)

#: D/T-Meta-NAS searches the FAS space (depth loss) on the static-dynamic input, like NAS-FAS,
#: with batch 8 per domain/type task.
_NAS_META = {**_NAS_PARAMS, "representation": "static_dynamic", "search_batch_size": 8}
_META = {"NAS": "random", "D-NAS": "domain", "D-Meta-NAS": "meta_domain"}
#: Searching every fold is the paper's setting; the small presets search one fold.
_ONE_FOLD = {"smoke": {"folds": ["OCI_to_M"]}, "quick": {"folds": ["OCI_to_M"]}}
_register(
    ExperimentSpec(
        name="meta_nas_ocim",
        workload="nas_search",
        protocol="ocim_lodo",
        params={**_NAS_META, "domain_key": "dataset"},
        grid={"variant": tuple(_META)},
        variants={k: {"split": v} for k, v in _META.items()},
        report="variants",
        description="NAS vs D-NAS vs D-Meta-NAS searched leave-one-dataset-out (source datasets as domains).",
        presets={k: {**v, **_ONE_FOLD.get(k, {})} for k, v in _NAS_PRESETS.items()},
    )
)
_register(
    ExperimentSpec(
        name="meta_nas_siwm",
        workload="nas_search",
        protocol="siwm_loto",
        params={**_NAS_META, "domain_key": "pai"},
        grid={"variant": ("NAS", "T-NAS", "T-Meta-NAS")},
        variants={
            "NAS": {"split": "random"},
            "T-NAS": {"split": "type"},
            "T-Meta-NAS": {"split": "meta_type"},
        },
        report="variants",
        description="NAS vs T-NAS vs T-Meta-NAS searched leave-one-type-out on SiW-M (attack types as tasks).",
        presets={
            k: {**v, **({"folds": ["mask_silicone"]} if k != "paper" else {})}
            for k, v in _NAS_PRESETS.items()
        },
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


# Protocol fan-outs register themselves on import (they share the CDCN settings above).
from orchestrator import protocol_experiments  # noqa: E402, F401
