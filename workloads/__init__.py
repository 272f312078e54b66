"""Units of work a trial runs. They never import ray or mlflow (see workloads/base.py)."""
