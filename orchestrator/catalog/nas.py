"""The NAS experiments: the FAS and baseline search spaces, NAS vs random sampling (RI),
Auto-FAS, and domain/type-aware meta-NAS (NAS-FAS Tables III-V, VII; Auto-FAS)."""

from orchestrator.catalog.recipes import BINARY, NAS_PARAMS, NAS_PRESETS
from orchestrator.experiments import register
from orchestrator.specs import ExperimentSpec


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
register(
    ExperimentSpec(
        name="nas_fas_space",
        workload="nas_search",
        protocol="oulu_npu_p1",
        params=dict(NAS_PARAMS),
        grid={"variant": tuple(_FAS_TRIALS)},
        variants={name: _flags(name) for name in _FAS_TRIALS},
        report="variants",
        description="PC-DARTS in the NAS-FAS FAS space: S/SD x Van/CD x Max/CDP x Att (10 trials).",
        presets=NAS_PRESETS,
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
register(
    ExperimentSpec(
        name="nas_baseline_space",
        workload="nas_search",
        protocol="oulu_npu_p1",
        params={**NAS_PARAMS, "space": "baseline_van", **BINARY},
        grid={"variant": tuple(_BASELINE_TRIALS)},
        variants=_BASELINE_TRIALS,
        report="variants",
        description="PC-DARTS in the NAS-FAS baseline space: S/SD x Van/CD x CE/DP (8 trials).",
        presets={**NAS_PRESETS, "smoke": {**NAS_PRESETS["smoke"], "layers": 5}},
    )
)

#: Each space with its own supervision (its random samples inherit it).
_RI_SPACES = {
    "Van-Baseline": {"space": "baseline_van", **BINARY},
    "CD-Baseline": {"space": "baseline_cd", **BINARY},
    "Van-FAS": {"space": "fas_van", "loss": "depth"},
    "CD-FAS": {"space": "fas_cd", "loss": "depth"},
}
register(
    ExperimentSpec(
        name="ri_random_sampling",
        workload="nas_search",
        protocol="oulu_npu_p1",
        params=dict(NAS_PARAMS),
        grid={"variant": tuple(_RI_SPACES)},
        variants=_RI_SPACES,
        sampling={"workload": "random_sample", "algorithm": "random", "num_samples": 10, "seed": 0},
        report="ri",
        description="NAS vs random sampling (Optuna RandomSampler) in four spaces; RI on ACER.",
        presets={
            **NAS_PRESETS,
            # layers: each space keeps its own depth (the FAS space has exactly three cells)
            "smoke": {**NAS_PRESETS["smoke"], "layers": None, "sampling.num_samples": 2},
            # one search per space: NAS vs random is judged against the random samples' spread,
            # and the baseline space's 9-cell searches take ~12 min each on 2 CPU cores
            "quick": {
                **NAS_PRESETS["quick"],
                "layers": None,
                "sampling.num_samples": 4,
                "seeds": 1,
            },
        },
    )
)

register(
    ExperimentSpec(
        name="autofas_search",
        workload="nas_search",
        protocol="oulu_npu_p1",
        params={
            **NAS_PARAMS,
            "space": "autofas",
            "search_preset": "auto_fas",
            "search_epochs": 40,
            "warmup_epochs": 15,
            "search_batch_size": 256,
            "input_size": 108,
            "width": 1.0,  # Auto-FAS retrains at the search width (0.27M params)
            **BINARY,
        },
        grid={"variant": ("CE", "DP")},
        variants={"CE": {"head": "ce"}, "DP": {"head": "map"}},
        report="variants",
        description="Auto-FAS: PC-DARTS, 108x108 in, 14x14 binary map (DP) vs a CE score head.",
        presets={
            **NAS_PRESETS,
            "smoke": {**NAS_PRESETS["smoke"], "input_size": 36, "layers": 5},
            "quick": {**NAS_PRESETS["quick"], "input_size": 54, "layers": 5},
        },
    )
)

#: D/T-Meta-NAS searches the FAS space (depth loss) on the static-dynamic input, like NAS-FAS,
#: with batch 8 per domain/type task.
_NAS_META = {**NAS_PARAMS, "representation": "static_dynamic", "search_batch_size": 8}
_META = {"NAS": "random", "D-NAS": "domain", "D-Meta-NAS": "meta_domain"}
#: Searching every fold is the paper's setting; the small presets search one fold.
_ONE_FOLD = {"smoke": {"folds": ["OCI_to_M"]}, "quick": {"folds": ["OCI_to_M"]}}
register(
    ExperimentSpec(
        name="meta_nas_ocim",
        workload="nas_search",
        protocol="ocim_lodo",
        params={**_NAS_META, "domain_key": "dataset"},
        grid={"variant": tuple(_META)},
        variants={k: {"split": v} for k, v in _META.items()},
        report="variants",
        description="NAS vs D-NAS vs D-Meta-NAS searched leave-one-dataset-out (source datasets as domains).",
        presets={k: {**v, **_ONE_FOLD.get(k, {})} for k, v in NAS_PRESETS.items()},
    )
)
register(
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
            for k, v in NAS_PRESETS.items()
        },
    )
)
