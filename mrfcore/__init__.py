"""MRF Studio's science: sequences, simulation, reconstruction, inference and I/O.

This package never imports Qt.  Heavy dependencies (torch, sigpy) are imported by the
modules that need them, so ``import mrfcore`` stays cheap.
"""

import os
from importlib.metadata import PackageNotFoundError, version

# OpenMP threads that spin while waiting made small torch operations ~100x slower and
# 2-thread finufft calls 8-12x slower on a busy 2-core machine; passive waiting fixed
# both.  It must be set before torch or finufft load, and a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    __version__ = version("mrf-studio")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
