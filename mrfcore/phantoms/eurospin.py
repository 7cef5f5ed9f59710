"""The EUROSPIN TO5 relaxation test object: 18 gel-filled vials, 1.5 T reference values.

Layout (a choice, documented as such): no dimensioned drawing of TO5 was available to
us.  MR-BIAS's EUROSPIN ROI templates (``eurospin_philips_1p5T_allvials``) show the
vials on a square grid with a pitch of ≈ 22 pixels (≈ 22 mm at the usual ~1 mm pixels)
and ROIs of 5–6 mm radius, so the vials are somewhat wider than 12 mm.  We place the
18 vials on a 6 × 3 grid with a 22 mm pitch, inner radius 7.5 mm, centred in the field
of view, numbered row by row from the top left as displayed (+y up, +x right).  The
EUROSPIN test objects are 188 mm cylinders; the space between vials has no signal here.
"""

from __future__ import annotations

import math

import numpy as np

from mrfcore.phantoms.base import (
    Phantom,
    disc_fractions,
    dominant_labels,
    make_geometry,
    snap_fractions,
)
from mrfcore.phantoms.reference_values import EUROSPIN_VIALS, eurospin_reference_values

__all__ = ["eurospin_phantom", "eurospin_vial_centres_mm"]

GRID_COLUMNS, GRID_ROWS = 6, 3
PITCH_MM = 22.0
VIAL_RADIUS_MM = 7.5


def eurospin_vial_centres_mm() -> np.ndarray:
    """Centres of vials 1–18, float (18, 2) as (x, y) mm, vial 1 at the top left."""
    xs = (np.arange(GRID_COLUMNS) - (GRID_COLUMNS - 1) / 2) * PITCH_MM
    ys = ((GRID_ROWS - 1) / 2 - np.arange(GRID_ROWS)) * PITCH_MM
    return np.array([(x, y) for y in ys for x in xs])


def eurospin_phantom(
    matrix: int | tuple[int, int] = 200,
    fov_mm: float | tuple[float, float] = 200.0,
    field_strength_t: float = 1.5,
    temperature_c: float = 20.0,
) -> Phantom:
    """A slice through the 18 vials of the EUROSPIN TO5 phantom.

    Parameters
    ----------
    matrix, fov_mm
        Grid: voxels per side (or (nx, ny)) and field of view in mm (or (fx, fy)).
    field_strength_t, temperature_c
        Reference values exist for 1.5 T at 20 °C only (±2 °C accepted, not corrected).

    Returns
    -------
    Phantom
        Compartments "vial 1" … "vial 18", label values 1–18.
    """
    values = eurospin_reference_values(field_strength_t, temperature_c)
    geometry = make_geometry(matrix, fov_mm)
    centres = eurospin_vial_centres_mm()
    if not len(values) == len(centres) == EUROSPIN_VIALS:
        raise ValueError(f"expected {EUROSPIN_VIALS} EUROSPIN vials, got {len(values)} values")
    fractions = snap_fractions(
        np.stack([disc_fractions(geometry, tuple(c), VIAL_RADIUS_MM) for c in centres])
    )
    names = [f"vial {v.sphere}" for v in values]
    return Phantom(
        name="eurospin",
        geometry=geometry,
        tissue_names=names,
        tissue_t1_ms=np.array([v.t1_ms for v in values]),
        tissue_t2_ms=np.array([v.t2_ms for v in values]),
        tissue_pd=np.ones(EUROSPIN_VIALS),
        fractions=fractions,
        labels=dominant_labels(fractions),
        label_names={0: "background", **{k + 1: n for k, n in enumerate(names)}},
        references={
            "phantom": "EUROSPIN TO5 relaxation test object (Lerski & de Certaines, MRI "
            "11:817, 1993)",
            "field_strength_t": values[0].field_strength_t,
            "temperature_c": values[0].temperature_c,
            "temperature_methods": sorted({v.temperature_method for v in values}),
            "source": values[0].source,
            "values_from": "MR-BIAS reference CSV files (BSD-3 licence); the column titled "
            "'NiCl2/MnCl2 Concentration (mM)' holds the vial number",
            "notes": sorted({v.note for v in values if v.note}),
            "layout": f"{GRID_COLUMNS}×{GRID_ROWS} grid, pitch {PITCH_MM:g} mm, vial radius "
            f"{VIAL_RADIUS_MM:g} mm, vial 1 top left, row by row (a documented choice; see "
            "mrfcore.phantoms.eurospin)",
            "background": "no signal",
        },
        tissue_t1_sd_ms=np.array([math.nan if v.t1_sd_ms is None else v.t1_sd_ms for v in values]),
        tissue_t2_sd_ms=np.array([math.nan if v.t2_sd_ms is None else v.t2_sd_ms for v in values]),
        roi_erode_voxels=1,
    )
