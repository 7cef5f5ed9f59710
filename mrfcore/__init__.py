"""MRF Studio's science: sequences, simulation, reconstruction, inference and I/O.

This package never imports Qt.  Heavy dependencies (torch, sigpy) are imported by the
modules that need them, so ``import mrfcore`` stays cheap.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mrf-studio")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
