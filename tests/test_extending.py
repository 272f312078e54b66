"""Extending the project is one new file per thing plus one registration line (README:
Architecture). Each recipe below is written as its own module file, exactly as a contributor
would add it; importing the module stands in for the one line in the package's catalog
(``protocols/adapters/__init__.py``, ``protocols/catalog.py``, ``orchestrator/catalog/__init__.py``,
``search_spaces/catalog.py``). Then the unchanged driver code finds and uses each one."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from orchestrator.experiments import EXPERIMENTS, resolve_experiment
from orchestrator.protocol_report import protocol_table
from orchestrator.specs import SpecError
from orchestrator.validation import validate_spec
from protocols.datasets import ANNOTATION_READERS, DATASETS, load_manifest
from protocols.protocols import PROTOCOLS
from search_spaces.genotypes import sample_genotype
from search_spaces.spaces import SPACES, make_space

RECIPES = {
    # A dataset adapter: <root>/toyset/<live|print>/<subject>_<session>.avi, train subjects
    # 1-4, test 5-6 (protocols/adapters/<name>.py).
    "toy_dataset": """
from pathlib import Path

from protocols.adapters.common import row, to_manifest
from protocols.datasets import register_dataset

LAYOUT = "live/ and print/ holding <subject>_<session>.avi"


@register_dataset("toyset", layout=LAYOUT)
def toyset(root: Path):
    rows = []
    for pai in ("live", "print"):
        for path in sorted((root / pai).glob("*.avi")):
            subject, session = (int(x) for x in path.stem.split("_"))
            split = "train" if subject <= 4 else "test"
            rows.append(row("toyset", root, path, subject=subject, session=session,
                            device="1", pai=pai, attack_type=pai, split=split))
    return to_manifest(rows, "toyset", root, LAYOUT)
""",
    # A protocol with its table kind (protocols/<name>.py).
    "toy_protocol": """
from dataclasses import dataclass

from protocols.cross import ManifestProtocol, train_dev
from protocols.protocols import PROTOCOLS, TableKind


@dataclass(frozen=True)
class ToyProtocol(ManifestProtocol):
    datasets: tuple = ("toyset",)
    n_folds: int = 1
    table: TableKind = TableKind(metrics=("auc",))

    def make_folds(self, manifests):
        m = manifests["toyset"]
        train, dev = train_dev(m)
        return [self._fold("toy", train, dev, m[m["split"] == "test"].reset_index(drop=True))]


PROTOCOLS.add("toy_protocol", ToyProtocol("toy_protocol", "Train subjects 1-4, test 5-6."))
""",
    # An experiment (orchestrator/catalog/<name>.py).
    "toy_experiment": """
from orchestrator.catalog.recipes import ABLATION_PRESETS, CDCN_PARAMS
from orchestrator.experiments import register
from orchestrator.specs import ExperimentSpec

register(
    ExperimentSpec(
        name="toy_theta",
        workload="train_eval",
        protocol="toy_protocol",
        params=dict(CDCN_PARAMS),
        grid={"theta": (0.0, 0.7)},
        description="CDCN theta 0 vs 0.7 on the toy protocol.",
        presets=ABLATION_PRESETS,
    )
)
""",
    # A search space (search_spaces/<name>.py).
    "toy_space": """
from search_spaces.spaces import preset

preset("toy_fas", kind="fas", op_space="cd", C=8, layers=3, input_size=32, pooling="max")
""",
}
ENTRIES = [
    (DATASETS, "toyset"),
    (PROTOCOLS, "toy_protocol"),
    (EXPERIMENTS, "toy_theta"),
    (SPACES, "toy_fas"),
]


@pytest.fixture(scope="module")
def recipes(tmp_path_factory):
    """The four recipe files on the path, imported (the registration lines); removed after."""
    folder = tmp_path_factory.mktemp("recipes")
    for name, text in RECIPES.items():
        (folder / f"{name}.py").write_text(text)
    sys.path.insert(0, str(folder))
    try:
        for name in RECIPES:
            importlib.import_module(name)
        yield
    finally:
        sys.path.remove(str(folder))
        for name in RECIPES:
            sys.modules.pop(name, None)
        for registry, name in ENTRIES:
            if name in registry:
                registry.unregister(name)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    """Six subjects, one live and one print video each, written and readable by OpenCV."""
    root = tmp_path_factory.mktemp("toy_root")
    rng = np.random.default_rng(0)
    for pai in ("live", "print"):
        (root / "toyset" / pai).mkdir(parents=True)
        for subject in range(1, 7):
            path = root / "toyset" / pai / f"{subject}_1.avi"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (16, 16))
            for _ in range(2):
                writer.write(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
            writer.release()
    return root


def test_a_new_dataset_is_read_by_the_manifest_loader(recipes, toy_root: Path) -> None:
    m = load_manifest("toyset", toy_root)
    assert len(m) == 12 and set(m["pai"]) == {"live", "print"}
    assert set(m.loc[m["split"] == "test", "subject"]) == {5, 6}
    assert "toyset" not in ANNOTATION_READERS  # optional: without one, the face detector runs


def test_a_new_protocol_makes_folds_and_names_its_table(recipes, toy_root: Path) -> None:
    (fold,) = PROTOCOLS.get("toy_protocol").folds(toy_root)
    assert set(fold.test["subject"]) == {5, 6} and not set(fold.train["subject"]) & {5, 6}
    children = pd.DataFrame(
        {
            "status": ["FINISHED"] * 2,
            "params.network": ["cdcn"] * 2,
            "tags.fold": ["toy"] * 2,
            "metrics.test_auc": [0.9, 0.8],
        }
    )
    table = protocol_table("toy_protocol", children)
    assert any("AUC" in str(c) for c in table.columns)
    assert not any("ACER" in str(c) for c in table.columns)  # the kind's metrics, not a default


def test_a_new_experiment_resolves_and_validates(recipes) -> None:
    spec = validate_spec(resolve_experiment("toy_theta", "smoke"))
    assert spec.protocol == "toy_protocol" and spec.grid["theta"] == (0.0, 0.7)
    with pytest.raises(SpecError, match="toy_theta"):
        resolve_experiment("toy_thetaa", "smoke")


def test_a_new_search_space_builds_and_samples(recipes) -> None:
    space = make_space("toy_fas")
    assert space.C == 8 and space.input_size == 32
    genotype = sample_genotype(space, 0)
    assert genotype.space == "toy_fas"
