"""Every protocol: the one place that imports the protocol entries (``PROTOCOLS`` imports this
module on its first lookup). A new protocol is one module registering into ``PROTOCOLS`` plus
its name in the import below."""

from protocols import cross, oulu

__all__ = ["cross", "oulu"]
