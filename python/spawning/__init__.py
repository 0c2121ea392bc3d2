"""spawning: the Python side of the spawning WSGI server (worker and factories)."""

__version__ = "0.1.0"
