"""Demo scans: simulated ISMRMRD files the application opens on its first screen.

They are made once, into ``mrfcore.resources.data_dir()/demo/``, with fixed seeds, and
reused while their recipe is unchanged (the recipe's hash is stored in the file):

- ``brain``: the BrainWeb brain phantom at 1.5 T, 200 × 200 over 200 mm,
  ``ir-ramp-880``, golden-angle spiral (one arm of 24 per frame), 8 coils, SNR 50.
- ``nist``: the ISMRM/NIST system phantom (T1 plate, NiCl2 spheres) at 1.5 T, same
  acquisition.

Each takes well under a minute on a laptop CPU and about 100 MB of disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrfcore.acquisition.scan import ScanRecipe, simulate_recipe
from mrfcore.progress import Progress, ProgressCallback, ensure_progress

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = [
    "DEMO_SCANS",
    "demo_directory",
    "demo_scan_is_current",
    "demo_scan_path",
    "demo_scan_paths",
    "demo_sequence",
]

DEMO_SCANS: dict[str, ScanRecipe] = {
    "brain": ScanRecipe(
        phantom="brain",
        sequence="ir-ramp-880",
        trajectory="spiral",
        matrix=200,
        fov_mm=200.0,
        coils=8,
        snr=50.0,
        seed=1,
        field_strength_t=1.5,
    ),
    "nist": ScanRecipe(
        phantom="nist",
        sequence="ir-ramp-880",
        trajectory="spiral",
        matrix=200,
        fov_mm=200.0,
        coils=8,
        snr=50.0,
        seed=2,
        field_strength_t=1.5,
    ),
}
"""Recipes of the demo scans by name."""


def demo_directory() -> Path:
    """Where demo scans live (created on demand)."""
    from mrfcore.resources import data_dir

    path = data_dir() / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stored_recipe_hash(path: Path) -> str | None:
    import json

    import h5py

    try:
        with h5py.File(path, "r") as handle:
            text = handle["dataset/mrf_studio/simulation"].attrs["parameters"]
        return json.loads(text).get("recipe_hash")
    except (OSError, KeyError, ValueError):
        return None


def _recipe(name: str) -> ScanRecipe:
    try:
        return DEMO_SCANS[name]
    except KeyError:
        raise ValueError(f"no demo scan named {name!r}; demo scans: {sorted(DEMO_SCANS)}") from None


def demo_sequence(name: str) -> Sequence:
    """The MRF schedule a demo scan is (or will be) acquired with, without making the scan
    (e.g. to build its dictionary while the scan is simulated)."""
    from mrfcore.sequences import load_sequence

    recipe = _recipe(name)
    return load_sequence(recipe.sequence, te_ms=recipe.te_ms)


def demo_scan_is_current(name: str) -> bool:
    """True when the demo scan exists and was made from its current recipe."""
    path = demo_directory() / f"{name}.h5"
    return path.exists() and _stored_recipe_hash(path) == _recipe(name).content_hash()


def demo_scan_path(
    name: str,
    progress: Progress | ProgressCallback | None = None,
    device: Any = None,
) -> Path:
    """Path of a demo scan, simulating and writing it first when needed.

    Parameters
    ----------
    name
        A key of :data:`DEMO_SCANS` (``"brain"`` or ``"nist"``).
    progress
        Reports the simulation (only when the scan has to be made).
    device
        Compute device for the EPG simulation.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    from mrfcore.io.ismrmrd import write_ismrmrd

    recipe = _recipe(name)
    path = demo_directory() / f"{name}.h5"
    if demo_scan_is_current(name):
        return path
    progress = ensure_progress(progress)
    data = simulate_recipe(recipe, device=device, progress=progress.stage(0.0, 0.95, name))
    progress(950, 1000, f"writing {path.name}")
    write_ismrmrd(data, path)
    progress(1000, 1000, f"{name} demo scan ready")
    return path


def demo_scan_paths(
    progress: Progress | ProgressCallback | None = None, device: Any = None
) -> dict[str, Path]:
    """All demo scans by name, made where missing."""
    progress = ensure_progress(progress)
    paths = {}
    for index, name in enumerate(DEMO_SCANS):
        share = 1.0 / len(DEMO_SCANS)
        stage = progress.stage(index * share, (index + 1) * share)
        paths[name] = demo_scan_path(name, progress=stage, device=device)
    return paths
