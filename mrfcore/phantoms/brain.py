"""Numerical brain phantom: an axial BrainWeb slice with literature T1/T2/PD per tissue.

Anatomy: ``resources/phantoms/brainweb_axial_labels.npz``, 434×362 labels at 0.5 mm from
KomaMRI.jl's ``brain2D`` (MIT licence), itself derived from the BrainWeb anatomical model
(Collins et al., IEEE TMI 17:463, 1998; Aubert-Broche et al., NeuroImage 32:138, 2006).
The file stores rows anterior→posterior and columns left→right; we turn it into our
(x, y) convention (see :mod:`mrfcore.phantoms.base`), so anterior is +y.  Which side is
the subject's right cannot be told from the labels; we take +x as right (RAS+).

Resampling is an exact area average (a box filter): every 0.5 mm source pixel spreads
over the target voxels it overlaps in proportion to the overlap area.  Fractions are
therefore partial-volume mixtures at tissue boundaries, the area of every tissue is
preserved exactly, and the fractions of a voxel sum to the fraction of it covered by the
source image (1 inside).  The head's bounding box is centred in the field of view.  The
head is 206 mm (AP) × 172.5 mm (LR) in this slice; when ``fit_to_fov`` and the field of
view is smaller (the default 200 mm), the anatomy is scaled down uniformly so that it
fits with a 1 mm margin (×0.961 at 200 mm, a 198 mm long head), and the scale is
recorded in ``references["anatomy_scale"]``; otherwise it is cropped.
"""

from __future__ import annotations

import numpy as np

from mrfcore.phantoms.base import (
    Phantom,
    dominant_labels,
    make_geometry,
    snap_fractions,
)
from mrfcore.resources import resource_path

__all__ = ["BRAIN_TISSUES", "RELAXATION_TABLES", "brain_phantom", "brain_tissue_table"]

LABELS_RESOURCE = "phantoms/brainweb_axial_labels.npz"
BRAIN_TISSUES: tuple[str, ...] = (
    "CSF",
    "grey matter",
    "white matter",
    "fat",
    "muscle",
    "muscle/skin",
    "skull",
    "vessels",
    "fat around",
    "dura",
    "marrow",
)
_FIT_MARGIN_MM = 1.0

# Relative proton density (water = 1), field independent.  GM, WM, CSF: BrainWeb's MR
# simulator values (Kwan et al., IEEE TMI 18:1085, 1999), as KomaMRI uses for this slice;
# muscle/skin 0.7 as KomaMRI gives this label.  Fat 0.9 (fat has ~0.9 the 1H density of
# water), muscle 0.8 and marrow 0.8 (their water+fat content), blood 0.85 (its water
# content) are approximations.  Skull: cortical bone holds ~5 % visible water-like 1H
# at very short T2.  Dura: a collagen-rich membrane, 0.6 is an assumption.
_PD = {
    "CSF": 1.0, "grey matter": 0.86, "white matter": 0.77, "fat": 0.9, "muscle": 0.8,
    "muscle/skin": 0.7, "skull": 0.05, "vessels": 0.85, "fat around": 0.9, "dura": 0.6,
    "marrow": 0.8,
}  # fmt: skip

# (T1 ms, T2 ms) per tissue and field.  Sources:
#   3 T GM, WM, CSF, fat: the literature values given in the project's design notes
#     (docs: DESIGN.md "Data"): GM 1560/83, WM 830/75, CSF 4160/1650, fat 370/125; the fat
#     value matches Gold et al., AJR 183:343 (2004), subcutaneous fat 371/133 at 3 T.
#   1.5 T GM: Stanisz et al., MRM 54:507 (2005), 1124/95.
#   1.5 T WM: Ma et al., Nature 495:187 (2013), MRF in vivo at 1.5 T, 781/65.  Stanisz's
#     1.5 T WM (884 ms) is not used: it exceeds the 3 T WM T1 above, and T1 grows with B0.
#   1.5 T CSF: T1 of CSF, a water-like fluid, barely depends on B0, so the 3 T value is
#     kept (4160 ms); T2 2000 ms, within the 1.5 T literature range compiled by Ma et al.
#     2013 (about 1800–2460 ms).
#   fat (1.5 T): Gold et al. 2004, subcutaneous fat 288/165 (rounded 290/165).
#   muscle: Stanisz et al. 2005, skeletal muscle 1008/44 (1.5 T), 1412/50 (3 T);
#     muscle/skin takes the muscle values (skin is not resolved at 1 mm).
#   vessels (blood): Stanisz et al. 2005, 1441/290 (1.5 T), 1932/275 (3 T).
#   marrow: de Bazelaire et al., Radiology 230:652 (2004), bone marrow 549/49 (1.5 T),
#     586/49 (3 T).
#   skull (cortical bone): T2* ≈ 0.4–0.5 ms (Reichert et al., MRI 23:611, 2005), so it is
#     practically invisible; T2 0.5 ms and an approximate T1 of 250 ms at both fields.
#   dura: no reliable in-vivo relaxometry of this thin membrane; assumed collagen-like:
#     T1 1000/1200 ms, T2 40 ms.  It is ~1 mm thick, partial-volumed with CSF and bone.
_LITERATURE = {
    1.5: {
        "CSF": (4160.0, 2000.0), "grey matter": (1124.0, 95.0),
        "white matter": (781.0, 65.0), "fat": (290.0, 165.0), "muscle": (1008.0, 44.0),
        "muscle/skin": (1008.0, 44.0), "skull": (250.0, 0.5), "vessels": (1441.0, 290.0),
        "fat around": (290.0, 165.0), "dura": (1000.0, 40.0), "marrow": (549.0, 49.0),
    },
    3.0: {
        "CSF": (4160.0, 1650.0), "grey matter": (1560.0, 83.0),
        "white matter": (830.0, 75.0), "fat": (370.0, 125.0), "muscle": (1412.0, 50.0),
        "muscle/skin": (1412.0, 50.0), "skull": (250.0, 0.5), "vessels": (1932.0, 275.0),
        "fat around": (370.0, 125.0), "dura": (1200.0, 40.0), "marrow": (586.0, 49.0),
    },
}  # fmt: skip

# BrainWeb's 1.5 T simulator values for these labels, as KomaMRI.jl's brain phantom uses
# them (T1/T2/PD).  Offered to reproduce published in-silico experiments whose dictionary
# (T2 ≤ 600 ms) covers them; CSF and dura (2569/329 ms) are far from in-vivo values.
# BrainWeb gives skull and vessels no signal (PD 0, T1 = T2 = 0); we keep PD 0 but the
# literature T1/T2 so that no simulator divides by zero.
_BRAINWEB_15T = {
    "CSF": (2569.0, 329.0, 1.0), "grey matter": (833.0, 83.0, 0.86),
    "white matter": (500.0, 70.0, 0.77), "fat": (350.0, 70.0, 1.0), "muscle": (900.0, 47.0, 1.0),
    "muscle/skin": (569.0, 329.0, 0.7), "skull": (250.0, 0.5, 0.0),
    "vessels": (1441.0, 290.0, 0.0), "fat around": (500.0, 70.0, 0.77),
    "dura": (2569.0, 329.0, 1.0), "marrow": (500.0, 70.0, 0.77),
}  # fmt: skip

RELAXATION_TABLES: tuple[str, ...] = ("literature", "brainweb")

_CITATIONS = [
    "Anatomy: BrainWeb (Collins et al., IEEE TMI 1998; Aubert-Broche et al., NeuroImage "
    "2006) via KomaMRI.jl brain2D (MIT licence), 0.5 mm axial label slice",
    "Stanisz et al., MRM 54:507 (2005): GM 1.5 T, muscle, blood",
    "Ma et al., Nature 495:187 (2013): WM 1.5 T, CSF T2 1.5 T (literature range)",
    "Gold et al., AJR 183:343 (2004): fat",
    "de Bazelaire et al., Radiology 230:652 (2004): bone marrow",
    "Reichert et al., MRI 23:611 (2005): cortical bone T2*",
    "MRF Studio DESIGN.md: 3 T GM, WM, CSF, fat",
    "Kwan et al., IEEE TMI 18:1085 (1999): BrainWeb PD (and the 'brainweb' table)",
]


def _nominal_field(field_strength_t: float) -> float:
    for field in _LITERATURE:
        if abs(float(field_strength_t) - field) <= 0.1:
            return field
    raise ValueError(
        f"no brain tissue values for field strength {field_strength_t} T "
        f"(available: {', '.join(f'{f:g} T' for f in _LITERATURE)})"
    )


def brain_tissue_table(
    field_strength_t: float = 1.5, relaxation_values: str = "literature"
) -> list[tuple[str, float, float, float]]:
    """(name, T1 ms, T2 ms, PD) of the 11 tissues, in label order 1–11."""
    field = _nominal_field(field_strength_t)
    if relaxation_values == "literature":
        return [(n, *_LITERATURE[field][n], _PD[n]) for n in BRAIN_TISSUES]
    if relaxation_values == "brainweb":
        if field != 1.5:
            raise ValueError(
                f"the 'brainweb' relaxation table exists for 1.5 T only, not {field_strength_t} T"
            )
        return [(n, *_BRAINWEB_15T[n]) for n in BRAIN_TISSUES]
    raise ValueError(
        f"unknown relaxation_values {relaxation_values!r}; choose one of {RELAXATION_TABLES}"
    )


def _load_labels() -> tuple[np.ndarray, float]:
    """Source labels in (x, y) order (x left→right, y posterior→anterior) and pixel mm."""
    path = resource_path(LABELS_RESOURCE)
    with np.load(path) as data:
        rows_ap = np.asarray(data["labels"])
        pixel = np.asarray(data["voxel_size_mm"], dtype=float)
    if rows_ap.ndim != 2 or not np.allclose(pixel, pixel[0]):
        raise ValueError(f"{path}: expected a 2D label map with square pixels")
    if rows_ap.max() > len(BRAIN_TISSUES):
        raise ValueError(f"{path}: label {rows_ap.max()} beyond the {len(BRAIN_TISSUES)} known")
    # Row 0 is the anterior edge (frontal horns at the top); flip so y grows anteriorly.
    return np.ascontiguousarray(rows_ap[::-1, :].T), float(pixel[0])


def overlap_matrix(target_edges: np.ndarray, source_edges: np.ndarray) -> np.ndarray:
    """W[i, j] = length of target cell i ∩ source cell j / length of target cell i."""
    lo = np.maximum(target_edges[:-1, None], source_edges[None, :-1])
    hi = np.minimum(target_edges[1:, None], source_edges[None, 1:])
    return np.clip(hi - lo, 0.0, None) / np.diff(target_edges)[:, None]


def brain_phantom(
    matrix: int | tuple[int, int] = 200,
    fov_mm: float | tuple[float, float] = 200.0,
    field_strength_t: float = 1.5,
    relaxation_values: str = "literature",
    fit_to_fov: bool = True,
) -> Phantom:
    """Axial brain phantom with partial-volume fractions on any grid.

    Parameters
    ----------
    matrix
        Voxels per side (or (nx, ny)); default 200.
    fov_mm
        Field of view in mm (or (fx, fy)); default 200 mm, i.e. 1 mm voxels.
    field_strength_t
        1.5 or 3.0 T: selects the relaxation table.
    relaxation_values
        ``"literature"`` (in-vivo values with the sources listed in this module) or
        ``"brainweb"`` (BrainWeb's 1.5 T simulator values, for reproducing published
        in-silico experiments).
    fit_to_fov
        Scale the anatomy down uniformly when the head is larger than the field of view
        (otherwise it is cropped).

    Returns
    -------
    Phantom
        11 tissue compartments, label values 1–11 as in the label file.
    """
    from scipy.sparse import csr_matrix

    table = brain_tissue_table(field_strength_t, relaxation_values)
    geometry = make_geometry(matrix, fov_mm)
    source, pixel = _load_labels()

    occupied = source > 0
    xs_any, ys_any = np.flatnonzero(occupied.any(1)), np.flatnonzero(occupied.any(0))
    extent_mm = np.array(
        [(xs_any[-1] - xs_any[0] + 1) * pixel, (ys_any[-1] - ys_any[0] + 1) * pixel]
    )
    fov = np.array(geometry.fov_mm)
    scale = 1.0
    if fit_to_fov:
        scale = float(min(1.0, np.min((fov - 2 * _FIT_MARGIN_MM) / extent_mm)))
        if scale <= 0:
            raise ValueError(f"fov_mm {fov_mm!r} is too small to hold the head")
    step = pixel * scale
    # Source cell edges in mm with the head's bounding box centred on the origin.
    edges = [
        (np.arange(n_src + 1) - (first + last + 1) / 2) * step
        for n_src, first, last in (
            (source.shape[0], xs_any[0], xs_any[-1]),
            (source.shape[1], ys_any[0], ys_any[-1]),
        )
    ]
    target_edges = [
        (np.arange(n + 1) - n / 2) * d
        for n, d in zip(geometry.matrix, geometry.voxel_size_mm, strict=True)
    ]
    # The overlap matrices are banded (a voxel meets a few source pixels): sparse
    # products keep this O(pixels) and away from multithreaded BLAS.
    wx = csr_matrix(overlap_matrix(target_edges[0], edges[0]))
    wy = csr_matrix(overlap_matrix(target_edges[1], edges[1]))

    fractions = np.empty((len(BRAIN_TISSUES), *geometry.matrix), dtype=np.float64)
    for k in range(len(BRAIN_TISSUES)):
        along_x = wx @ (source == k + 1).astype(np.float64)  # (nx, ny_source)
        fractions[k] = (wy @ along_x.T).T
    fractions = snap_fractions(fractions)
    labels = dominant_labels(fractions)

    names = [row[0] for row in table]
    field = _nominal_field(field_strength_t)
    return Phantom(
        name="brain",
        geometry=geometry,
        tissue_names=names,
        tissue_t1_ms=np.array([row[1] for row in table]),
        tissue_t2_ms=np.array([row[2] for row in table]),
        tissue_pd=np.array([row[3] for row in table]),
        fractions=fractions,
        labels=labels,
        label_names={0: "background", **{k + 1: n for k, n in enumerate(names)}},
        references={
            "anatomy": LABELS_RESOURCE,
            "field_strength_t": field,
            "relaxation_values": relaxation_values,
            "citations": list(_CITATIONS),
            "anatomy_scale": scale,
            "head_extent_mm": tuple(float(e) for e in extent_mm * scale),
            "cropped": bool(np.any(extent_mm * scale > fov)),
            "resampling": "exact area average of 0.5 mm labels (box filter)",
            "axes": "(x, y): x left→right, y posterior→anterior; show a.T with origin lower",
        },
        roi_erode_voxels=0,
    )
