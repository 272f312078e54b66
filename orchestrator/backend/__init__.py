"""Ray, imported only in this package: jobs become Ray Tune trials, trial events come back.

Each job is one trial of a function trainable with the spec's resources (GPUs requested through
Ray, so the same command schedules on a laptop or a GPU cluster). A trial reports per-epoch
metrics with ``tune.report`` and its final scores and artifacts as a Tune checkpoint, which Ray
persists to the run's storage (shared NFS/S3 on a cluster). The driver-side callback turns Tune's
events into ``TrialEvents`` calls; it never lets a trial touch the tracking store.

- ``cluster``: connecting to Ray, the cluster's resources, plain Ray tasks (``map_tasks``).
- ``worker``: what every trial process shares (setup, data handle, checkpoints as files).
- ``trial``: the function trainable, a single-worker trial.
- ``train``: a data-parallel trial, a Ray Train run inside the Tune trial, and its workers.
- ``events``: Tune's driver-side events -> ``TrialEvents``.
- ``driver``: the Tuner: running, sampling and recovering a sweep's trials.

Importers import each name from the module that defines it; this file exports nothing.
"""
