"""How many CPU threads the application's computations use.

A desktop application shares the CPU with its own window and with whatever else the
user runs.  torch's default – one intra-op thread per core – makes every small tensor
operation wait for all threads, and when one of them is not scheduled (the GUI thread or
another program has the core) that wait dominates: measured on a 2-core machine shared
with other programs, LRTV on a 128 × 128 scan took 64 s with 2 threads and 12 s with 1,
dictionary matching 3.3 s against 0.9 s.  So the application leaves one core to the
window: computations use ``cores − 1`` threads (at least 1).  ``MRF_STUDIO_THREADS``
overrides the number (e.g. on a dedicated workstation).

The setting is made in the thread that starts the computations; threads started later
inherit it.
"""

from __future__ import annotations

import os

__all__ = ["THREADS_VARIABLE", "compute_threads", "configure_compute_threads"]

THREADS_VARIABLE = "MRF_STUDIO_THREADS"


def compute_threads() -> int:
    """The number of CPU threads computations should use.

    Raises
    ------
    ValueError
        When ``MRF_STUDIO_THREADS`` is set but is not a whole number ≥ 1.
    """
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if text:
        try:
            count = int(text)
        except ValueError:
            count = 0
        if count < 1:
            raise ValueError(f"{THREADS_VARIABLE} must be a whole number ≥ 1, got {text!r}")
        return count
    return max(1, (os.cpu_count() or 1) - 1)


def configure_compute_threads() -> int:
    """Set torch's intra-op threads to :func:`compute_threads` (imports torch); returns
    the number set."""
    import torch

    count = compute_threads()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
