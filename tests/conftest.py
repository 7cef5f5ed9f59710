"""Shared test set-up.

Qt must be told to render offscreen before it loads, and every test gets its own user
cache and data folders so that nothing leaks between tests or into the user's home.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_folders(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MRF_STUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MRF_STUDIO_DATA", str(tmp_path_factory.mktemp("data")))
