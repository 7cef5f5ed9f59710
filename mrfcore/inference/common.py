"""What every inference method shares: subspace projection, background mask, voxel
batches, phase alignment, and turning per-voxel estimates back into maps.

A method's ``run`` typically reads::

    batch = prepare_voxels(inputs, options.mask_threshold, device)
    ...  # estimate t1_ms, t2_ms, pd (complex) for the V voxels of batch.signals
    return maps_from_estimates(batch, t1_ms, t2_ms, pd, extra={...}, provenance={...})

Conventions
-----------
- Voxel signals are the TSMI in the *dictionary's* subspace, ``X = V_dict^H x``, so they
  compare directly with ``Dictionary.atoms`` (``V_dict^H d_j``).
- The background mask keeps voxels whose signal norm ``||x_v||`` (over the subspace
  components, equal to the norm over time frames because V has orthonormal columns) is
  at least ``threshold × max_v ||x_v||`` (``method="relative"``), or at least Otsu's
  level of the norm histogram (``method="otsu"``).  Voxels with zero signal are never
  kept: they carry no information, and a threshold of 0 therefore means "every voxel
  with any signal".
- PD maps are magnitudes normalised by the 99th percentile of ``|PD|`` inside the mask
  (so typical tissue reads ≈ 0–1 whatever the scanner's scaling); the divisor is stored
  in ``provenance["pd_scale"]`` and the phase of a complex PD is kept as the extra map
  ``"PD phase"`` in radians.
- Outside the mask T1, T2 and every extra map are NaN ("not estimated"); PD is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.data import Geometry, ImageSeries, QuantitativeMaps

if TYPE_CHECKING:
    import torch

    from mrfcore.dictionary import Dictionary
    from mrfcore.methods import InferenceInputs

__all__ = [
    "EXTRA_B1",
    "EXTRA_MATCH_CORRELATION",
    "EXTRA_PD_PHASE",
    "MASK_METHODS",
    "PD_PERCENTILE",
    "VoxelBatch",
    "maps_from_estimates",
    "phase_align",
    "prepare_voxels",
    "project_to_dictionary_subspace",
    "signal_mask",
]

EXTRA_B1 = "B1"
"""Extra map name of the relative transmit field (1 = nominal flip angle)."""
EXTRA_PD_PHASE = "PD phase"
"""Extra map name of the phase of the complex PD, radians."""
EXTRA_MATCH_CORRELATION = "Match correlation"
"""Extra map name of ``|<x, d>| / (||x|| ||d||)`` of the chosen atom, in [0, 1]."""

MASK_METHODS = ("relative", "otsu")
PD_PERCENTILE = 99.0
"""|PD| inside the mask is divided by this percentile of itself."""

# Two bases are "the same" when V_img^H V_dict is the identity to this tolerance
# (complex64 round-off on T ≈ 1000 frames is ~1e-6).
_SAME_BASIS_TOLERANCE = 1e-4


@dataclass
class VoxelBatch:
    """The masked voxels of an image series, ready for an inference method.

    Attributes
    ----------
    signals
        complex64 tensor (V, s) on the compute device: voxel ``v``'s TSMI in the
        dictionary's subspace; voxels in the C order of ``mask.nonzero()``.
    mask
        bool array ``geometry.matrix``: which voxels ``signals`` holds.
    geometry
        Voxel geometry of the input images.
    """

    signals: torch.Tensor
    mask: np.ndarray
    geometry: Geometry

    @property
    def n_voxels(self) -> int:
        return int(self.signals.shape[0])

    @property
    def device(self) -> torch.device:
        return self.signals.device


def project_to_dictionary_subspace(images: ImageSeries, dictionary: Dictionary) -> np.ndarray:
    """The images in the dictionary's temporal subspace.

    Parameters
    ----------
    images
        Time frames (``basis is None``, data (T, *matrix)) or subspace images with their
        own basis (data (s_img, *matrix), basis (T, s_img)).
    dictionary
        Supplies the basis ``V`` (T, s) the result is expressed in.

    Returns
    -------
    np.ndarray
        complex64 (s, *matrix): ``V^H x`` for time frames; ``V^H V_img X`` for images in
        another subspace; the data unchanged when the image basis is the dictionary's.

    Raises
    ------
    ValueError
        When the number of time frames of the images and of the dictionary differ
        (the images were acquired with another sequence).
    """
    basis = np.asarray(dictionary.basis)
    n_frames, rank = basis.shape
    data = np.asarray(images.data)
    matrix = data.shape[1:]
    where = f" ({images.source})" if images.source else ""
    if images.basis is None:
        if data.shape[0] != n_frames:
            raise ValueError(
                f"the images{where} have {data.shape[0]} time frames but the dictionary's "
                f"sequence has {n_frames}; use the dictionary of the sequence the images "
                "were acquired with"
            )
        projected = basis.conj().T @ data.reshape(n_frames, -1)
        return projected.reshape((rank, *matrix)).astype(np.complex64, copy=False)
    image_basis = np.asarray(images.basis)
    if image_basis.shape[0] != n_frames:
        raise ValueError(
            f"the images{where} are in a subspace of {image_basis.shape[0]} time frames but "
            f"the dictionary's sequence has {n_frames}; use the dictionary of the sequence "
            "the images were reconstructed with"
        )
    # Work in double precision: the change of basis is tiny (s × s_img).
    change = basis.conj().T.astype(np.complex128) @ image_basis.astype(np.complex128)
    if change.shape[0] == change.shape[1] and np.allclose(
        change, np.eye(rank), atol=_SAME_BASIS_TOLERANCE
    ):
        return data.astype(np.complex64, copy=False)
    projected = change.astype(np.complex64) @ data.reshape(data.shape[0], -1)
    return projected.reshape((rank, *matrix)).astype(np.complex64, copy=False)


def signal_mask(
    subspace_images: np.ndarray, threshold: float = 0.05, method: str = "relative"
) -> np.ndarray:
    """Voxels with enough signal to be worth estimating.

    Parameters
    ----------
    subspace_images
        complex (components, *matrix).
    threshold
        ``method="relative"``: keep voxels with ``||x_v|| ≥ threshold × max_v ||x_v||``,
        the norm taken over the components (0 keeps every voxel with non-zero signal,
        1 only the brightest).  Ignored by ``"otsu"``.
    method
        ``"relative"`` or ``"otsu"`` (Otsu's threshold on the histogram of ``||x_v||``,
        for images whose background level is unknown).

    Returns
    -------
    np.ndarray
        bool, shape ``subspace_images.shape[1:]``.
    """
    if method not in MASK_METHODS:
        raise ValueError(f"mask method must be one of {list(MASK_METHODS)}, got {method!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"mask threshold must lie in [0, 1] (fraction of the maximum), "
                         f"got {threshold}")
    data = np.asarray(subspace_images)
    norms = np.sqrt(np.sum(data.real**2 + data.imag**2, axis=0, dtype=np.float64))
    norms = np.where(np.isfinite(norms), norms, 0.0)
    peak = norms.max(initial=0.0)
    if peak == 0.0:
        return np.zeros(norms.shape, dtype=bool)
    level = threshold * peak if method == "relative" else _otsu_level(norms[norms > 0])
    return (norms > 0) & (norms >= level)


def _otsu_level(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the level maximising the between-class variance."""
    counts, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[int(np.argmax(between)) + 1])


def prepare_voxels(
    inputs: InferenceInputs,
    mask_threshold: float = 0.05,
    device: str | torch.device | None = None,
    mask_method: str = "relative",
) -> VoxelBatch:
    """Project the input images to the dictionary's subspace, mask the background, and
    move the masked voxels to the compute device.

    Parameters
    ----------
    inputs
        Images and dictionary.
    mask_threshold, mask_method
        See :func:`signal_mask`.
    device
        Compute device; ``None`` uses ``inputs.device``.
    """
    import torch

    from mrfcore.device import select_device

    device = select_device(inputs.device if device is None else device)
    subspace = project_to_dictionary_subspace(inputs.images, inputs.dictionary)
    mask = signal_mask(subspace, mask_threshold, mask_method)
    signals = np.ascontiguousarray(subspace[:, mask].T, dtype=np.complex64)  # (V, s)
    return VoxelBatch(
        signals=torch.from_numpy(signals).to(device),
        mask=mask,
        geometry=inputs.images.geometry,
    )


def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _scatter(mask: np.ndarray, values: np.ndarray, fill: float) -> np.ndarray:
    full = np.full(mask.shape, fill, dtype=np.float32)
    full[mask] = values
    return full


def maps_from_estimates(
    batch: VoxelBatch,
    t1_ms: Any,
    t2_ms: Any,
    pd: Any,
    extra: dict[str, tuple[Any, str]] | None = None,
    provenance: dict[str, Any] | None = None,
) -> QuantitativeMaps:
    """Scatter per-voxel estimates back into full maps.

    Parameters
    ----------
    batch
        The voxels the estimates belong to.
    t1_ms, t2_ms
        (V,) ms, numpy arrays or tensors (any device).
    pd
        (V,) proton density, complex (phase kept as ``"PD phase"``) or real.
    extra
        More per-voxel maps: ``{name: ((V,) values, unit)}``, NaN outside the mask.
    provenance
        Method, options, timings...; ``pd_scale`` and ``pd_normalisation`` are added.

    Returns
    -------
    QuantitativeMaps
        T1/T2 float32 ms with NaN outside the mask; PD float32 = |PD| / pd_scale, 0
        outside the mask, with pd_scale the 99th percentile of |PD| inside the mask
        (1 when that is 0 or there are no voxels).
    """
    mask = batch.mask
    n = int(mask.sum())
    columns = {"t1_ms": _to_numpy(t1_ms), "t2_ms": _to_numpy(t2_ms), "pd": _to_numpy(pd)}
    for name, values in columns.items():
        if values.shape != (n,):
            raise ValueError(f"{name} has shape {values.shape}, expected ({n},) masked voxels")
    pd_values = columns["pd"]
    magnitude = np.abs(pd_values).astype(np.float64)
    finite = magnitude[np.isfinite(magnitude)]
    scale = float(np.percentile(finite, PD_PERCENTILE)) if finite.size else 0.0
    scale = scale if scale > 0 else 1.0
    extra_maps: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    if np.iscomplexobj(pd_values):
        extra_maps[EXTRA_PD_PHASE] = _scatter(mask, np.angle(pd_values), np.nan)
        units[EXTRA_PD_PHASE] = "rad"
    for name, (values, unit) in (extra or {}).items():
        values = _to_numpy(values)
        if values.shape != (n,):
            raise ValueError(f"extra map {name!r} has shape {values.shape}, expected ({n},)")
        extra_maps[name] = _scatter(mask, values.real if np.iscomplexobj(values) else values,
                                    np.nan)
        units[name] = unit
    record = dict(provenance or {})
    record["pd_scale"] = scale
    record["pd_normalisation"] = f"|PD| divided by its {PD_PERCENTILE:g}th percentile in the mask"
    record["n_voxels_estimated"] = n
    return QuantitativeMaps(
        t1_ms=_scatter(mask, columns["t1_ms"], np.nan),
        t2_ms=_scatter(mask, columns["t2_ms"], np.nan),
        pd=_scatter(mask, magnitude / scale, 0.0),
        mask=mask.copy(),
        geometry=batch.geometry,
        extra=extra_maps,
        units=units,
        provenance=record,
    )


def phase_align(signals: torch.Tensor) -> torch.Tensor:
    """Remove each voxel's global phase so that its first subspace coefficient is real
    and ≥ 0.

    Parameters
    ----------
    signals
        complex (V, s) on any device.

    Returns
    -------
    torch.Tensor
        complex (V, s), ``signals[v] · exp(-i arg signals[v, 0])``; voxels whose first
        coefficient is 0 are returned unchanged.

    Notes
    -----
    The first coefficient carries the largest singular value of the dictionary, so its
    phase is the best-determined estimate of the voxel's phase (PD phase, coil and B0
    phase).  For FISP sequences with zero RF phase the fingerprints are real; with a
    real-valued basis (the SVD of a real dictionary) the aligned signals are then real up
    to noise, and networks such as MRFResnet use their s real parts, as in the paper
    (Golbabaee et al.).  When the atoms are genuinely complex (bSSFP, RF phase cycling,
    or a basis with complex column phases), the imaginary parts carry information and a
    network should take ``[Re, Im]`` (2s values) instead.
    """
    import torch

    first = signals[:, :1]
    magnitude = first.abs()
    rotation = torch.where(
        magnitude > 0, first.conj() / torch.where(magnitude > 0, magnitude, 1), 1
    ).to(signals.dtype)
    return signals * rotation
