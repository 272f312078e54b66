"""What the MLflow UI shows: the experiment's kind and description, the results view, the
trials' source (git commit) and data set.

MLflow reads these from its own reserved names (``mlflow.*`` tags, dataset inputs); the
orchestrator sets them and reads nothing back from them, except the results view's key.

- The experiment is tagged a model-training experiment (``mlflow.experimentKind``) and carries
  the spec's description (``mlflow.note.content``, shown above its runs).
- The results view (``results_view``) is a saved view of the experiment's runs page: the trials
  (the sweep's parent runs filtered out, so no row is collapsed), the swept parameters, the seed
  and the main test metrics as columns, sorted by the first swept parameter. It is listed under
  "Views" and opened by ``landing_url``.
- Trials record their git commit in MLflow's source fields (the "Source" column) and the
  protocol's manifest as a dataset input (the "Dataset" column).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterable
from typing import Any

import pandas as pd
from mlflow.entities import Dataset, DatasetInput, InputTag

#: MLflow's experiment kind: "Model training" rather than GenAI (MLflow 3's own values).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
NOTE_TAG = "mlflow.note.content"
#: A saved view of the runs page is an experiment tag under this prefix (MLflow 3.17's UI).
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
VIEW_KEY = "results"
VIEW_NAME = "Results"
#: The UI's global mode (GenAI or model training), taken from the URL before the browser's memory.
WORKFLOW_PARAM = "workflowType=machine_learning"
#: Child runs carry this tag, parent runs do not: the view's filter keeps the trials only.
TRIAL_TAG = "run_key"
MAIN_METRICS = ("test_acer", "test_apcer", "test_bpcer", "test_hter", "test_auc")
DATA_CONTEXT = (
    "eval"  # MLflow's dataset-input context: the manifest the trial trained and tested on
)


def source_tags(commit: str) -> dict[str, str]:
    """MLflow's own source fields for a run started by ``orchestrate run`` at ``commit``."""
    tags = {"mlflow.source.name": "orchestrate run", "mlflow.source.type": "LOCAL"}
    if commit and commit != "unknown":
        tags["mlflow.source.git.commit"] = commit
    return tags


def experiment_tags(description: str) -> dict[str, str]:
    """The experiment's kind (model training) and its description."""
    tags = {EXPERIMENT_KIND_TAG: TRAINING_KIND}
    if description:
        tags[NOTE_TAG] = description
    return tags


def _column(kind: str, name: str) -> str:
    return f"{kind}.`{name}`"


def results_view(swept: Iterable[str], metrics: Iterable[str] = MAIN_METRICS) -> dict[str, Any]:
    """The results view's state, as MLflow's runs page saves one (search facets + UI state)."""
    swept = list(swept)
    params = [*swept, "seed"] if "seed" not in swept else swept
    columns = [_column("params", p) for p in params] + [_column("metrics", m) for m in metrics]
    columns.append(_column("tags", "fold"))
    order = _column("params", swept[0]) if swept else "attributes.start_time"
    return {
        "searchFilter": f"tags.{TRIAL_TAG} LIKE '%'",
        "orderByKey": order,
        "orderByAsc": True,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "columnOrder": columns,
        "columnWidths": {},
        "runsHiddenMode": "SHOW_ALL",
        "viewMaximized": False,
        "runListHidden": False,
        "isAccordionReordered": False,
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
        "groupBy": None,
        "groupsExpanded": {},
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0},
    }


def view_tag(state: dict[str, Any], created_ms: int | None = None) -> dict[str, str]:
    """The experiment tag holding a saved view (MLflow's envelope: name, times, state)."""
    now = created_ms or int(time.time() * 1000)
    envelope = {"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    return {VIEW_TAG_PREFIX + VIEW_KEY: json.dumps(envelope)}


def landing_url(base: str, experiment_id: str) -> str:
    """The experiment's results view in the UI at ``base`` (e.g. ``http://127.0.0.1:5000``)."""
    route = f"#/experiments/{experiment_id}/runs"
    return f"{base.rstrip('/')}/{route}?{WORKFLOW_PARAM}&viewStateShareKey={VIEW_KEY}"


def dataset_input(manifest: pd.DataFrame, name: str, digest: str) -> DatasetInput:
    """A protocol's manifest (one row per video) as an MLflow dataset input of a trial."""
    import mlflow.data

    table = manifest.copy()
    for col in table.columns:  # paths and other objects as text: a schema MLflow can infer
        if table[col].dtype == object:
            table[col] = table[col].astype(str)
    with warnings.catch_warnings():  # MLflow's hint on integer columns is for model schemas
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(table, name=name, digest=digest[:36], targets="label")
        entity = Dataset(**dataset.to_dict())  # what mlflow.log_input logs, for a client
    context = InputTag(key="mlflow.data.context", value=DATA_CONTEXT)
    return DatasetInput(dataset=entity, tags=[context])
