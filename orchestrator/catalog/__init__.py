"""The built-in experiments: the one place that imports them all (``EXPERIMENTS`` imports this
package on its first lookup). A new experiment is one ``register(ExperimentSpec(...))`` in a
module here, plus the module's name in the import below when it is a new module."""

from . import ablations, fanouts, nas

__all__ = ["ablations", "fanouts", "nas"]
