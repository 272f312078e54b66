"""Units of work a trial runs. They never import ray or mlflow (see workloads/base.py)."""


def load_all() -> None:
    """Import every workload module so its ``WORKLOADS.add`` line runs (the one place that
    imports the entries)."""
    import workloads.search  # noqa: F401
    import workloads.train_eval  # noqa: F401
