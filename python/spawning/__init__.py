"""spawning: the Python side of the spawning WSGI server (worker and factories)."""

from spawning._version import __version__

__all__ = ["__version__"]
