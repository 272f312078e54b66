"""What a trial process imports: the trainable's module, every workload and a model's cost, as
a Tune trial actor loads them, in a fresh interpreter. MLflow belongs to the driver (the trial
reports to Tune, the driver writes the runs) and matplotlib only to processes that draw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TRIAL_PATH = """
import json, sys
import orchestrator.backend.trial
from workloads.base import WORKLOADS
for name in WORKLOADS.names():
    WORKLOADS.get(name)
from search_spaces.nets import NETWORKS
from workloads.train_eval import map_size_of, model_cost
net = NETWORKS.get("cdcn")(input_size=32, width=0.125)
model_cost(net, 32), map_size_of(net, 32)
print(json.dumps(sorted(sys.modules)))
"""


def test_a_trial_process_imports_neither_mlflow_nor_matplotlib() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", TRIAL_PATH],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert {"orchestrator", "workloads", "torch"} <= loaded  # the path was really loaded
    assert not loaded & {"mlflow", "matplotlib"}
