"""Colour maps for quantitative maps: lipari (T1), navia (T2), grey (PD) and a few more.

lipari and navia are Fabio Crameri's Scientific Colour Maps (MIT licence, see
``resources/colormaps/README.md``), the published recommendation for relaxometry maps;
they are read from 256-entry RGB tables shipped in ``resources/colormaps``.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyqtgraph as pg

from mrfcore.resources import resource_path

__all__ = ["COLORMAP_NAMES", "colormap", "default_colormap", "lookup_table"]

_SHIPPED = ("lipari", "navia")
_PYQTGRAPH = ("viridis", "magma", "inferno", "cividis")
COLORMAP_NAMES: tuple[str, ...] = ("lipari", "navia", "grey", *_PYQTGRAPH)
"""Names a user can choose, in menu order."""

_DEFAULTS = {"T1": "lipari", "T2": "navia", "PD": "grey"}


def default_colormap(map_name: str) -> str:
    """lipari for T1, navia for T2, grey for PD and every other map."""
    return _DEFAULTS.get(map_name, "grey")


@cache
def lookup_table(name: str) -> np.ndarray:
    """RGB table of colour map ``name``, uint8, shape (256, 3), low values first.

    Raises
    ------
    ValueError
        For an unknown name (naming the known ones).
    """
    if name in _SHIPPED:
        path = resource_path(f"colormaps/{name}.txt")
        rgb = np.loadtxt(path, dtype=np.float64)
        if rgb.shape != (256, 3) or rgb.min() < 0 or rgb.max() > 1:
            raise ValueError(f"colour map file {path} must hold 256 rows of R G B in 0..1")
        return np.round(rgb * 255).astype(np.uint8)
    if name == "grey":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp, ramp, ramp], axis=1)
    if name in _PYQTGRAPH:
        table = pg.colormap.get(name).getLookupTable(nPts=256, alpha=False)
        return np.asarray(table, dtype=np.uint8)
    raise ValueError(f"unknown colour map {name!r}; choose one of {list(COLORMAP_NAMES)}")


@cache
def colormap(name: str) -> pg.ColorMap:
    """The pyqtgraph :class:`~pyqtgraph.ColorMap` named ``name``."""
    table = lookup_table(name)
    cmap = pg.ColorMap(np.linspace(0.0, 1.0, len(table)), table, name=name)
    return cmap
