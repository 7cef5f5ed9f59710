"""Locating files shipped in the ``resources`` package and the user's data/cache folders."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import platformdirs

APP_NAME = "mrf-studio"


def resource_path(relative: str) -> Path:
    """Absolute path of a file shipped under ``resources/`` (works from a wheel too)."""
    path = Path(str(files("resources").joinpath(relative)))
    if not path.exists():
        raise FileNotFoundError(f"resource {relative!r} is missing from the installation")
    return path


def cache_dir() -> Path:
    """Per-user cache folder (dictionaries); ``MRF_STUDIO_CACHE`` overrides it."""
    path = Path(os.environ.get("MRF_STUDIO_CACHE") or platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Per-user data folder (demo scans, trained models); ``MRF_STUDIO_DATA`` overrides it."""
    path = Path(os.environ.get("MRF_STUDIO_DATA") or platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path
