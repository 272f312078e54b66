"""Every workload: the one place that imports the workload entries (``WORKLOADS`` imports this
module on its first lookup). A new workload is one module with its params dataclass and its
``WORKLOADS.add(name, WorkloadDef(...))`` line, plus its name in the import below."""

from workloads import search, train_eval

__all__ = ["search", "train_eval"]
