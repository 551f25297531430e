"""acakit: a toolkit for algorithmic collective action.

Simulate how a collective of data contributors steers a learner by changing its own data,
measure its success, and compute the theory's bounds.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("acakit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
