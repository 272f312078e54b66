"""MLflow, imported only in this package: the driver is the single writer of the store.

Layout (README, "MLflow layout"): one MLflow experiment per orchestrator experiment, one parent
run per invocation, one nested child run per trial, tagged with its run key so a re-run finds
what is done.

- ``store``: which store a command uses, checked before anything else.
- ``transport``: calls to the store retried while it is away; writes buffered in order.
- ``runs``: the ``Tracker``, one experiment's parent and child runs, read and written.
- ``claim``: one driver per experiment and store (``DriverLock``).
- ``views``: read-only helpers for reports and the UI.

Importers import each name from the module that defines it; this file exports nothing.
"""

import logging


class _RaisedAnyway(logging.Filter):
    """MLflow's SQL store logs a database error with its whole traceback and then raises it;
    the orchestrator reports what it raises (one line), so the log record is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SQLAlchemy database error")


logging.getLogger("mlflow.store.db.utils").addFilter(_RaisedAnyway())
