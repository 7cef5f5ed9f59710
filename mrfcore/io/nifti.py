"""NIfTI input: image time series (TSMI) and value maps (T1/T2/PD from other tools).

Array axes are (x, y, z[, t]) as stored; :class:`~mrfcore.data.ImageSeries` puts time
first, so a 4D file becomes ``data[t, x, y, z]`` (``data[t, x, y]`` for one slice).  The
affine is nibabel's (sform when set, else qform): voxel → RAS mm, used as is.

A BIDS-style JSON sidecar (same name, ``.json``) is read when present; its ``Units``
field declares the unit of a value map.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.data import Geometry, ImageSeries
from mrfcore.io._values import phase_to_radians

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = [
    "NiftiInfo",
    "NiftiValues",
    "inspect_nifti",
    "is_nifti_path",
    "read_nifti",
    "read_nifti_values",
    "read_sidecar",
    "sidecar_path",
]

_SUFFIXES = (".nii", ".nii.gz")


def is_nifti_path(path: str | Path) -> bool:
    """Whether ``path`` names a NIfTI file by its suffix (.nii or .nii.gz)."""
    return str(path).lower().endswith(_SUFFIXES)


def sidecar_path(path: str | Path) -> Path:
    """The BIDS sidecar of a NIfTI file: the same name with ``.json``."""
    path = Path(path)
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_suffix(".json")


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The JSON sidecar of a NIfTI file as a dict; empty when there is none.

    Raises
    ------
    ValueError
        Naming the sidecar when it is not valid JSON or not an object.
    """
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        values = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{side}: cannot read the sidecar: {error}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{side}: the sidecar is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{side}: the sidecar must be a JSON object")
    return values


def _load(path: str | Path) -> Any:
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        image = nib.load(str(path))
    except Exception as error:  # nibabel raises ImageFileError, OSError, gzip errors …
        raise ValueError(f"{path}: not a readable NIfTI file: {error}") from None
    if not isinstance(image, nib.Nifti1Pair):  # NIfTI-1/2 images and .hdr/.img pairs
        raise ValueError(f"{path}: {type(image).__name__} is not a NIfTI image")
    return image


def _array(image: Any, path: Path) -> np.ndarray:
    try:
        # dataobj applies scl_slope/scl_inter and keeps complex data complex.
        return np.asanyarray(image.dataobj)
    except Exception as error:
        raise ValueError(f"{path}: cannot read the image data: {error}") from None


def _geometry(image: Any, spatial_shape: tuple[int, ...]) -> Geometry:
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    zooms = zooms + (1.0,) * (3 - len(zooms))
    affine = np.asarray(image.affine, dtype=np.float64)
    if len(spatial_shape) == 3 and spatial_shape[2] == 1:
        return Geometry(spatial_shape[:2], zooms[:2], affine)
    return Geometry(spatial_shape, zooms[: len(spatial_shape)], affine)


@dataclass
class NiftiInfo:
    """Header facts about a NIfTI file, for ``mrf info``."""

    path: Path
    shape: tuple[int, ...]
    dtype: str
    voxel_size_mm: tuple[float, ...]
    affine: np.ndarray
    sidecar: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "shape": list(self.shape),
            "dtype": self.dtype,
            "voxel_size_mm": [round(v, 4) for v in self.voxel_size_mm],
            "affine": np.round(self.affine, 4).tolist(),
            "sidecar_keys": sorted(self.sidecar),
        }

    def describe(self) -> str:
        return "\n".join(f"{key}: {value}" for key, value in self.summary().items())


def inspect_nifti(path: str | Path) -> NiftiInfo:
    """Read the header (not the data) of a NIfTI file."""
    image = _load(path)
    return NiftiInfo(
        path=Path(path),
        shape=tuple(int(n) for n in image.shape),
        dtype=str(image.get_data_dtype()),
        voxel_size_mm=tuple(float(z) for z in image.header.get_zooms()[:3]),
        affine=np.asarray(image.affine, dtype=np.float64),
        sidecar=read_sidecar(path),
    )


def _as_series_array(
    array: np.ndarray, path: Path, time_axis: int | None, n_frames: int | None
) -> tuple[np.ndarray, tuple[int, ...], str]:
    """(frames, x, y, z) data, the spatial shape and how time was found."""
    shape = array.shape
    while array.ndim > 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim > 4:
        # (x, y, z, 1, t) is how some tools store a time series in the 5th dimension.
        if array.ndim == 5 and array.shape[3] == 1:
            array = array[:, :, :, 0, :]
        else:
            raise ValueError(f"{path}: {len(shape)}D data of shape {shape} is not (x, y, z, t)")
    if array.ndim < 2:
        raise ValueError(f"{path}: data of shape {shape} is not an image")
    if time_axis is None and array.ndim == 3 and n_frames is not None and n_frames > 1:
        if array.shape[2] == n_frames:
            time_axis = 2
    if time_axis is not None:
        if not -array.ndim <= time_axis < array.ndim:
            raise ValueError(f"{path}: time_axis {time_axis} does not exist in shape {shape}")
        time_axis %= array.ndim
        if time_axis < 2:
            raise ValueError(f"{path}: time_axis {time_axis} would be a spatial axis (x or y)")
        array = np.moveaxis(array, time_axis, -1)
        if array.ndim == 3:
            array = array[:, :, None, :]
        how = f"time along axis {time_axis}"
    elif array.ndim == 4:
        how = "time along axis 3 (x, y, z, t)"
    else:
        array = array.reshape(array.shape + (1,) * (4 - array.ndim))
        how = "one volume (no time axis)"
    frames_last = array  # (x, y, z, t)
    if n_frames is not None and frames_last.shape[3] != n_frames:
        raise ValueError(
            f"{path}: holds {frames_last.shape[3]} time frames ({how}) but the sequence has "
            f"{n_frames}"
        )
    return np.moveaxis(frames_last, 3, 0), frames_last.shape[:3], how


def read_nifti(
    path: str | Path,
    *,
    phase: str | Path | None = None,
    time_axis: int | None = None,
    sequence: Sequence | None = None,
    phase_scale: float | None = None,
) -> ImageSeries:
    """Read a NIfTI image series (a TSMI in the time domain).

    Parameters
    ----------
    path
        A 4D (x, y, z, t) file, complex or real; a 3D file is one volume unless
        ``time_axis`` says otherwise (or ``sequence`` has as many frames as axis 2).
    phase
        A phase file of the same shape, combined as magnitude · exp(i·phase); units as in
        :func:`mrfcore.io._values.phase_to_radians` unless ``phase_scale`` is given.
    time_axis
        Axis holding time, when it is not the 4th.
    sequence
        When given, the number of frames must match it.

    Returns
    -------
    ImageSeries
        complex64 ``data`` of shape (frames, x, y[, z]) (z dropped for one slice),
        ``basis`` None.

    Raises
    ------
    ValueError
        Naming the file and the problem.
    """
    path = Path(path)
    image = _load(path)
    n_frames = sequence.n_frames if sequence is not None else None
    data, spatial, how = _as_series_array(_array(image, path), path, time_axis, n_frames)
    notes = [how]
    if phase is not None:
        phase_path = Path(phase)
        phase_image = _load(phase_path)
        phase_data, phase_spatial, _ = _as_series_array(
            _array(phase_image, phase_path), phase_path, time_axis, n_frames
        )
        if phase_data.shape != data.shape:
            raise ValueError(
                f"{phase_path}: phase data of shape {phase_data.shape} does not match the "
                f"magnitude {path} of shape {data.shape} (frames first)"
            )
        if not np.allclose(phase_image.affine, image.affine, atol=1e-3):
            raise ValueError(f"{phase_path}: its affine differs from that of {path}")
        if phase_scale is not None:
            radians = phase_data * phase_scale
            notes.append(f"phase scaled by {phase_scale:g} to radians (given)")
        else:
            radians, note = phase_to_radians(phase_data)
            notes.append(note)
        data = np.abs(data) * np.exp(1j * radians)
    bad = np.count_nonzero(~np.isfinite(data))
    if bad:
        # A TSMI voxel with a NaN would match an arbitrary atom; refuse rather than guess.
        raise ValueError(
            f"{path}: {bad} of {data.size} image values are NaN or infinite; an image "
            "series must be finite everywhere (set empty voxels to 0)"
        )
    geometry = _geometry(image, spatial)
    data = data.reshape((data.shape[0], *geometry.matrix)).astype(np.complex64)
    return ImageSeries(
        data=np.ascontiguousarray(data),
        geometry=geometry,
        basis=None,
        sequence=sequence,
        source=str(path),
        provenance={
            "reader": "nifti",
            "source": str(path),
            "phase_source": None if phase is None else str(phase),
            "shape": list(image.shape),
            "notes": notes,
            "sidecar": read_sidecar(path),
        },
    )


@dataclass
class NiftiValues:
    """A NIfTI value map: values (x, y[, z]) float64, and the unit its sidecar declares."""

    values: np.ndarray
    geometry: Geometry
    unit: str | None
    source: str
    sidecar: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_nifti_values(path: str | Path) -> NiftiValues:
    """Read a 3D NIfTI map (T1, T2, PD …) with the unit from its sidecar's ``Units``.

    Raises
    ------
    ValueError
        When the file is not a single volume of real values.
    """
    path = Path(path)
    image = _load(path)
    array = _array(image, path)
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"{path}: a map must be one volume, got shape {image.shape}")
    if np.iscomplexobj(array):
        raise ValueError(f"{path}: a map must hold real values, found complex data")
    if array.ndim == 2:
        array = array[:, :, None]
    geometry = _geometry(image, array.shape)
    sidecar = read_sidecar(path)
    unit = sidecar.get("Units")
    notes = [f"unit {unit!r} from the sidecar"] if unit else []
    values = np.asarray(array, dtype=np.float64).reshape(geometry.matrix)
    return NiftiValues(values, geometry, str(unit) if unit else None, str(path), sidecar, notes)
