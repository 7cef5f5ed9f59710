"""The application's CPU thread policy: a core is left to the window."""

from __future__ import annotations

import pytest

from app.compute import THREADS_VARIABLE, compute_threads, configure_compute_threads


def test_threads_leave_a_core_to_the_window(monkeypatch):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    for cores, expected in ((1, 1), (2, 1), (16, 15), (None, 1)):
        monkeypatch.setattr("os.cpu_count", lambda c=cores: c)
        assert compute_threads() == expected


def test_the_environment_overrides_the_thread_count(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv(THREADS_VARIABLE, "3")
    try:
        assert configure_compute_threads() == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(THREADS_VARIABLE, bad)
        with pytest.raises(ValueError, match=THREADS_VARIABLE):
            compute_threads()
