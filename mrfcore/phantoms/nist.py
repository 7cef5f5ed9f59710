"""The ISMRM/NIST system phantom (CaliberMRI): a 2D slice through one relaxation plate.

The phantom (Stupic et al., MRM 86:1194, 2021) is a 200 mm sphere holding, among other
arrays, a T1 plate of 14 NiCl2 spheres and a T2 plate of 14 MnCl2 spheres, in different
planes; a 2D slice cuts one plate, so ``plate`` chooses which.  Each plate carries 10
spheres on an outer ring and 4 on an inner ring.  No drawing with dimensions was
available to us; the layout below is what public analysis tools have measured from
images, which agree with each other:

* hazen (GSTT-CSC/hazen, ``hazenlib/data/relaxometry_params.py``): sphere centres of
  plates 4 and 5 on 192² images over 250 mm.  A circle fit gives an outer ring of radius
  50.2 mm with spheres every 36°, sphere 1 at 12 o'clock and the numbers increasing
  clockwise, and spheres 11–14 at 28.1 mm on the diagonals, from the upper left,
  clockwise.
* The "NIST phantom registration toolbox" (MATLAB, ``roi_centers_ref.m``): masks
  reverse-engineered from 256² images, rings of 50 and 28 pixels, sphere radius 9 pixels.
* MR-BIAS ROI templates (``siemens_skyra_3p0T``): the same 10 + 4 pattern.

So: outer ring 50 mm, inner ring 28 mm, sphere radius 9 mm in the plate's mid-plane
(uncertain by about ±1 mm: the one measured radius comes from images of ~1 mm pixels).
Sphere 1 (lowest concentration, longest T1/T2) is at +y (anterior, top when displayed),
and the numbers run clockwise as displayed (+y towards +x).

Background: by default the space between spheres has no signal.  The real spheres sit in
the phantom's filling fluid; its relaxation times are not certified and, with T2 of
seconds, lie far outside any MRF dictionary.  ``background_fluid=True`` adds it as an
extra compartment without a reference value ("fluid", near-pure water: T1 2700 ms,
T2 2400 ms, the "free water" starting values of hazen's relaxometry task), filling a
190 mm disc (the 200 mm shell less an assumed 5 mm wall; the plates are not at the
shell's equator, so the real disc is somewhat smaller) except for an assumed 1 mm
sphere wall without signal.
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
from mrfcore.phantoms.reference_values import (
    NIST_SPHERES,
    nist_reference_values,
    normalise_batch,
    normalise_plate,
)

__all__ = ["nist_phantom", "nist_sphere_centres_mm"]

OUTER_RING_RADIUS_MM = 50.0
INNER_RING_RADIUS_MM = 28.0
SPHERE_RADIUS_MM = 9.0
SPHERE_WALL_MM = 1.0
FLUID_RADIUS_MM = 95.0
FLUID_T1_MS = 2700.0
FLUID_T2_MS = 2400.0


def nist_sphere_centres_mm() -> np.ndarray:
    """Centres of spheres 1–14 in the plate plane, float (14, 2) as (x, y) mm."""
    outer = np.radians(36.0 * np.arange(10))
    inner = np.radians([-45.0, 45.0, 135.0, 225.0])
    # Angles from +y towards +x: clockwise as displayed with +y up.
    xy = [(OUTER_RING_RADIUS_MM * np.sin(a), OUTER_RING_RADIUS_MM * np.cos(a)) for a in outer]
    xy += [(INNER_RING_RADIUS_MM * np.sin(a), INNER_RING_RADIUS_MM * np.cos(a)) for a in inner]
    return np.array(xy)


def nist_phantom(
    matrix: int | tuple[int, int] = 200,
    fov_mm: float | tuple[float, float] = 200.0,
    field_strength_t: float = 1.5,
    batch: str | float = "batch1",
    temperature_c: float = 20.0,
    plate: str = "T1",
    background_fluid: bool = False,
    slice_offset_mm: float = 0.0,
    temperature_mode: str = "interpolate",
) -> Phantom:
    """A slice through the T1 (NiCl2) or T2 (MnCl2) plate of the NIST system phantom.

    Parameters
    ----------
    matrix, fov_mm
        Grid: voxels per side (or (nx, ny)) and field of view in mm (or (fx, fy)).
    field_strength_t, batch, temperature_c, temperature_mode
        Choose the reference values, see :func:`nist_reference_values`.  The default,
        batch 1, has measured values with uncertainties at both 1.5 T and 3 T (the values
        published by Stupic et al. 2021).
    plate
        ``"T1"`` (NiCl2 spheres) or ``"T2"`` (MnCl2 spheres).  Every sphere carries the
        T1 and the T2 of its reference file.
    background_fluid
        Add the filling fluid as a compartment without reference values (see module doc).
    slice_offset_mm
        Distance of the slice from the plate's mid-plane; the spheres' cross-sections
        shrink to ``sqrt(r² - offset²)``.

    Returns
    -------
    Phantom
        Compartments "T1-1" … "T1-14" (or "T2-…"), label values 1–14; with the fluid, a
        15th compartment "fluid".
    """
    plate = normalise_plate(plate)
    batch = normalise_batch(batch)
    radius = SPHERE_RADIUS_MM**2 - float(slice_offset_mm) ** 2
    if radius <= 0:
        raise ValueError(
            f"slice_offset_mm={slice_offset_mm} misses the spheres (radius {SPHERE_RADIUS_MM} mm)"
        )
    radius = math.sqrt(radius)
    values = nist_reference_values(
        field_strength_t, batch, temperature_c, plate, temperature_mode=temperature_mode
    )
    geometry = make_geometry(matrix, fov_mm)
    centres = nist_sphere_centres_mm()

    layers = [disc_fractions(geometry, tuple(c), radius) for c in centres]
    names = [f"{plate}-{v.sphere}" for v in values]
    t1 = [v.t1_ms for v in values]
    t2 = [v.t2_ms for v in values]
    pd = [1.0] * NIST_SPHERES
    t1_sd = [math.nan if v.t1_sd_ms is None else v.t1_sd_ms for v in values]
    t2_sd = [math.nan if v.t2_sd_ms is None else v.t2_sd_ms for v in values]
    is_reference = [True] * NIST_SPHERES
    if background_fluid:
        fluid = disc_fractions(geometry, (0.0, 0.0), FLUID_RADIUS_MM)
        for c in centres:
            fluid -= disc_fractions(geometry, tuple(c), radius + SPHERE_WALL_MM)
        layers.append(np.clip(fluid, 0.0, 1.0))
        names.append("fluid")
        t1.append(FLUID_T1_MS)
        t2.append(FLUID_T2_MS)
        pd.append(1.0)
        t1_sd.append(math.nan)
        t2_sd.append(math.nan)
        is_reference.append(False)
    fractions = snap_fractions(np.stack(layers))

    notes = sorted({v.note for v in values if v.note})
    return Phantom(
        name="nist",
        geometry=geometry,
        tissue_names=names,
        tissue_t1_ms=np.array(t1),
        tissue_t2_ms=np.array(t2),
        tissue_pd=np.array(pd),
        fractions=fractions,
        labels=dominant_labels(fractions),
        label_names={0: "background", **{k + 1: n for k, n in enumerate(names)}},
        references={
            "phantom": "ISMRM/NIST system phantom (CaliberMRI), Stupic et al., MRM 86:1194 (2021)",
            "plate": plate,
            "salt": "NiCl2" if plate == "T1" else "MnCl2",
            "batch": batch,
            "field_strength_t": values[0].field_strength_t,
            "temperature_c": float(temperature_c),
            "temperature_methods": sorted({v.temperature_method for v in values}),
            "source": values[0].source,
            "values_from": "MR-BIAS reference CSV files (BSD-3 licence)",
            "notes": notes,
            "layout": "10 spheres on a 50 mm ring (sphere 1 at +y, clockwise), 4 on a 28 mm "
            "ring on the diagonals; sphere radius 9 mm; from hazen, MR-BIAS and the NIST "
            "phantom registration toolbox (see mrfcore.phantoms.nist)",
            "sphere_radius_mm": SPHERE_RADIUS_MM,
            "slice_radius_mm": radius,
            "slice_offset_mm": float(slice_offset_mm),
            "background": (
                f"fluid T1 {FLUID_T1_MS:g} ms / T2 {FLUID_T2_MS:g} ms (approximate, not a "
                "reference value)"
                if background_fluid
                else "no signal"
            ),
        },
        tissue_t1_sd_ms=np.array(t1_sd),
        tissue_t2_sd_ms=np.array(t2_sd),
        is_reference=np.array(is_reference),
        roi_erode_voxels=1,
    )
