"""BART ``.cfl``/``.hdr`` pairs: raw arrays, and non-Cartesian MRF k-space.

The format (BART ``src/misc/io.c``, ``python/cfl.py``): ``<base>.hdr`` is text with a
``# Dimensions`` line followed by a line of integer sizes (any further ``# Keyword``
blocks — ``# Command``, ``# Files``, ``# Creator`` — are ignored); ``<base>.cfl`` is the
raw array of complex64 (interleaved float32 real/imaginary, little-endian) in
column-major (Fortran) order.  BART uses 16 dimensions; sizes beyond those listed are 1.

Dimension convention (BART ``src/misc/mri.h``), as assumed by :func:`read_bart_kspace`:

====  ==========  ==========================================================
dim   name        here
====  ==========  ==========================================================
0     READ_DIM    k-space: 1 (non-Cartesian); trajectory: 3 coordinates
1     PHS1_DIM    readout samples
2     PHS2_DIM    spokes / interleaves of one frame
3     COIL_DIM    coils (k-space only)
5     TE_DIM      MRF time frames (how BART's subspace tools store them)
10    TIME_DIM    time frames, when TE_DIM is 1 (dynamic data)
====  ==========  ==========================================================

All other dimensions must be 1.  The trajectory may have size 1 in the frame dimension
(the same interleaves for every frame).  When both frame dimensions are 1 but there are
``n_frames × k`` spokes, consecutive groups of ``k`` spokes are taken as one frame each.
Trajectory coordinates are in BART's units, 1/FOV (the edge of an N-point image is at
±N/2): the same as :class:`mrfcore.data.KSpaceData`; ``trajectory_scale`` corrects data
written with an oversampled trajectory (e.g. 0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.data import Geometry, KSpaceData
from mrfcore.io.atomic import atomic_path

if TYPE_CHECKING:
    from mrfcore.sequences import Sequence

__all__ = [
    "BART_DIMS",
    "COIL_DIM",
    "TE_DIM",
    "TIME_DIM",
    "BartInfo",
    "inspect_cfl",
    "read_bart_kspace",
    "read_cfl",
    "write_bart_kspace",
    "write_cfl",
]

BART_DIMS = 16
READ_DIM, PHS1_DIM, PHS2_DIM, COIL_DIM, MAPS_DIM, TE_DIM = 0, 1, 2, 3, 4, 5
TIME_DIM = 10


def _base(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".cfl", ".hdr") else path


def _read_dims(header: Path) -> list[int]:
    try:
        lines = header.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise ValueError(f"{header}: no such file (a BART array needs .hdr and .cfl)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{header}: cannot read the BART header: {error}") from None
    dims = None
    for index, line in enumerate(lines):
        if line.strip().startswith("#") and line.strip("# \t") == "Dimensions":
            if dims is not None:
                raise ValueError(f"{header}: two '# Dimensions' blocks")
            text = lines[index + 1] if index + 1 < len(lines) else ""
            try:
                dims = [int(v) for v in text.split()]
            except ValueError:
                raise ValueError(
                    f"{header}: the line after '# Dimensions' must hold integers, got {text!r}"
                ) from None
    if not dims:
        raise ValueError(f"{header}: no '# Dimensions' line with sizes; not a BART header")
    if any(d < 1 for d in dims):
        raise ValueError(f"{header}: dimensions must be ≥ 1, got {dims}")
    if any(d != 1 for d in dims[BART_DIMS:]):
        raise ValueError(f"{header}: more than {BART_DIMS} non-singleton dimensions: {dims}")
    return dims[:BART_DIMS]


@dataclass
class BartInfo:
    """Header facts about a .cfl/.hdr pair."""

    base: Path
    dims: tuple[int, ...]

    @property
    def size_bytes(self) -> int:
        return math.prod(self.dims) * 8

    def summary(self) -> dict[str, Any]:
        named = {
            0: "READ",
            1: "PHS1",
            2: "PHS2",
            3: "COIL",
            4: "MAPS",
            5: "TE",
            6: "COEFF",
            7: "COEFF2",
            8: "ITER",
            9: "CSHIFT",
            10: "TIME",
            11: "TIME2",
            12: "LEVEL",
            13: "SLICE",
            14: "AVG",
            15: "BATCH",
        }
        return {
            "base": str(self.base),
            "dims": list(self.dims),
            "non_singleton": {named.get(i, str(i)): n for i, n in enumerate(self.dims) if n > 1},
            "size_bytes": self.size_bytes,
        }

    def describe(self) -> str:
        return "\n".join(f"{key}: {value}" for key, value in self.summary().items())


def inspect_cfl(base: str | Path) -> BartInfo:
    """Read only the header of ``<base>.hdr`` and check the ``.cfl`` size."""
    base = _base(base)
    dims = tuple(_read_dims(base.with_suffix(".hdr")))
    data = base.with_suffix(".cfl")
    if not data.is_file():
        raise ValueError(f"{data}: no such file (the data of {base.with_suffix('.hdr')})")
    info = BartInfo(base, dims)
    actual = data.stat().st_size
    if actual != info.size_bytes:
        raise ValueError(
            f"{data}: holds {actual} bytes but the header's dimensions {list(dims)} need "
            f"{info.size_bytes} (complex64)"
        )
    return info


def read_cfl(base: str | Path) -> np.ndarray:
    """Read a BART array: complex64 of the header's shape (trailing 1s dropped)."""
    info = inspect_cfl(base)
    dims = list(info.dims)
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    data = np.fromfile(info.base.with_suffix(".cfl"), dtype="<c8")
    return data.reshape(dims, order="F").astype(np.complex64, copy=False)


def write_cfl(base: str | Path, array: np.ndarray) -> None:
    """Write a BART array (complex64, column-major) atomically: data, then header."""
    import mrfcore

    base = _base(base)
    array = np.asarray(array)
    if array.ndim > BART_DIMS:
        raise ValueError(f"{base}: BART arrays have at most {BART_DIMS} dimensions")
    dims = list(array.shape) or [1]
    header = "# Dimensions\n" + " ".join(str(d) for d in dims) + " \n"
    header += f"# Creator\nMRF Studio {mrfcore.__version__}\n"
    with (
        atomic_path(base.with_suffix(".cfl")) as temporary_data,
        atomic_path(base.with_suffix(".hdr")) as temporary_header,
    ):
        np.asarray(array, dtype="<c8").ravel(order="F").tofile(temporary_data)
        temporary_header.write_text(header, encoding="ascii")


def _frame_dim(dims: list[int], where: str, frame_dim: int | None) -> int | None:
    if frame_dim is not None:
        if frame_dim not in (TE_DIM, TIME_DIM):
            raise ValueError(f"{where}: frame_dim must be {TE_DIM} (TE) or {TIME_DIM} (TIME)")
        return frame_dim
    candidates = [d for d in (TE_DIM, TIME_DIM) if dims[d] > 1]
    if len(candidates) > 1:
        raise ValueError(
            f"{where}: both TE_DIM (5) and TIME_DIM (10) have size > 1 ({dims[5]}, "
            f"{dims[10]}); say which holds the MRF frames with frame_dim"
        )
    return candidates[0] if candidates else None


def _padded(array: np.ndarray) -> np.ndarray:
    return array.reshape(array.shape + (1,) * (BART_DIMS - array.ndim))


def read_bart_kspace(
    kspace_base: str | Path,
    trajectory_base: str | Path,
    sequence: Sequence,
    *,
    matrix: tuple[int, ...] | None = None,
    voxel_size_mm: float | tuple[float, ...] = 1.0,
    frame_dim: int | None = None,
    trajectory_scale: float = 1.0,
) -> KSpaceData:
    """Non-Cartesian MRF k-space and trajectory from BART files.

    Parameters
    ----------
    kspace_base, trajectory_base
        Paths of the pairs, with or without ``.cfl``/``.hdr``.
    sequence
        The MRF schedule; its frame count must match the data.
    matrix
        Image size; by default 2·ceil(max |k|) per trajectory axis (BART files carry no
        geometry).
    voxel_size_mm
        Voxel size (BART files do not record it); recorded in the metadata as assumed.
    frame_dim
        5 (TE_DIM) or 10 (TIME_DIM); by default the one with size > 1.
    trajectory_scale
        Multiplies the coordinates (e.g. 0.5 for a 2× oversampled ``bart traj``).

    Returns
    -------
    KSpaceData
        samples (coils, frames, interleaves, readout); trajectory (frames, interleaves,
        readout, 2 or 3) — 2 when every z coordinate is 0.

    Raises
    ------
    ValueError
        Naming the file whose dimensions do not fit.
    """
    k_where, t_where = str(_base(kspace_base)), str(_base(trajectory_base))
    kspace = _padded(read_cfl(kspace_base))
    trajectory = _padded(read_cfl(trajectory_base))
    k_dims, t_dims = list(kspace.shape), list(trajectory.shape)
    if k_dims[READ_DIM] != 1:
        raise ValueError(
            f"{k_where}: dimension 0 has size {k_dims[0]}; non-Cartesian BART k-space has 1 "
            "there and the readout in dimension 1"
        )
    if t_dims[READ_DIM] != 3:
        raise ValueError(f"{t_where}: dimension 0 must hold the 3 coordinates, got {t_dims[0]}")
    dim = _frame_dim(k_dims, k_where, frame_dim)
    allowed = {PHS1_DIM, PHS2_DIM, COIL_DIM} | ({dim} if dim is not None else set())
    extra = [i for i in range(1, BART_DIMS) if i not in allowed and k_dims[i] != 1]
    if extra:
        raise ValueError(
            f"{k_where}: dimensions {extra} (sizes {[k_dims[i] for i in extra]}) are not "
            "supported; expected [1, readout, spokes, coils, 1, frames, …]"
        )
    t_allowed = {PHS1_DIM, PHS2_DIM} | ({dim} if dim is not None else set())
    t_extra = [i for i in range(1, BART_DIMS) if i not in t_allowed and t_dims[i] != 1]
    if t_extra:
        raise ValueError(f"{t_where}: dimensions {t_extra} must have size 1 in a trajectory")
    if t_dims[PHS1_DIM] != k_dims[PHS1_DIM] or t_dims[PHS2_DIM] != k_dims[PHS2_DIM]:
        raise ValueError(
            f"{t_where}: trajectory readout×spokes {t_dims[1]}×{t_dims[2]} does not match "
            f"the k-space {k_where} ({k_dims[1]}×{k_dims[2]})"
        )
    n_frames = sequence.n_frames
    readout, spokes, coils = k_dims[PHS1_DIM], k_dims[PHS2_DIM], k_dims[COIL_DIM]
    # samples[coil, frame, spoke, readout] and traj[frame, spoke, readout, xyz]
    if dim is not None:
        frames = k_dims[dim]
        if t_dims[dim] not in (1, frames):
            raise ValueError(
                f"{t_where}: {t_dims[dim]} frames in dimension {dim}, k-space has {frames}"
            )
        samples = np.moveaxis(kspace, (COIL_DIM, dim, PHS2_DIM, PHS1_DIM), (0, 1, 2, 3))
        samples = samples.reshape(coils, frames, spokes, readout)
        traj = np.moveaxis(trajectory, (dim, PHS2_DIM, PHS1_DIM, READ_DIM), (0, 1, 2, 3))
        traj = traj.reshape(t_dims[dim], spokes, readout, 3)
        traj = np.broadcast_to(traj, (frames, spokes, readout, 3))
        how = f"frames in dimension {dim}"
    else:
        if spokes % n_frames:
            raise ValueError(
                f"{k_where}: no frame dimension (5 or 10) and {spokes} spokes are not a "
                f"multiple of the sequence's {n_frames} frames"
            )
        frames, per_frame = n_frames, spokes // n_frames
        # Dropping singleton dimensions does not depend on memory order; splitting the
        # spokes (C order) makes spoke s = frame · per_frame + i.
        samples = kspace.reshape(readout, frames, per_frame, coils).transpose(3, 1, 2, 0)
        traj = trajectory.reshape(3, readout, frames, per_frame).transpose(2, 3, 1, 0)
        how = f"{per_frame} consecutive spokes per frame (no frame dimension)"
    if frames != n_frames:
        raise ValueError(
            f"{k_where}: holds {frames} frames ({how}) but the sequence "
            f"'{sequence.name}' has {n_frames}"
        )
    coordinates = np.real(traj).astype(np.float32) * np.float32(trajectory_scale)
    if np.max(np.abs(np.imag(traj)), initial=0.0) > 1e-6 * max(1.0, np.abs(coordinates).max()):
        raise ValueError(f"{t_where}: trajectory coordinates must be real")
    ndim = 2 if np.all(coordinates[..., 2] == 0) else 3
    coordinates = np.ascontiguousarray(coordinates[..., :ndim])
    metadata: dict[str, Any] = {
        "format": "bart",
        "frames": how,
        "trajectory_scale": trajectory_scale,
    }
    if matrix is None:
        extent = np.abs(coordinates).reshape(-1, ndim).max(axis=0)
        matrix = tuple(max(1, 2 * math.ceil(float(e) - 1e-6)) for e in extent)
        metadata["matrix_from"] = "2·ceil(max |k|) per axis (not recorded in BART files)"
    if len(matrix) != ndim:
        raise ValueError(f"matrix {matrix} has {len(matrix)} axes; the trajectory has {ndim}")
    sizes = (voxel_size_mm,) * ndim if np.isscalar(voxel_size_mm) else tuple(voxel_size_mm)
    assumed = np.isscalar(voxel_size_mm) and voxel_size_mm == 1.0
    metadata["voxel_size_mm"] = "assumed 1 mm (not in BART files)" if assumed else "given"
    return KSpaceData(
        samples=np.ascontiguousarray(samples, dtype=np.complex64),
        trajectory=coordinates,
        sequence=sequence,
        geometry=Geometry(tuple(matrix), sizes),
        source=k_where,
        metadata=metadata | {"trajectory_source": t_where},
    )


def write_bart_kspace(
    data: KSpaceData,
    kspace_base: str | Path,
    trajectory_base: str | Path,
    frame_dim: int = TE_DIM,
) -> None:
    """Write KSpaceData as BART k-space [1, readout, spokes, coils, …, frames] and
    trajectory [3, readout, spokes, 1, …, frames], frames in ``frame_dim``."""
    if frame_dim not in (TE_DIM, TIME_DIM):
        raise ValueError(f"frame_dim must be {TE_DIM} or {TIME_DIM}, got {frame_dim}")
    coils, frames, spokes, readout = data.samples.shape
    kspace = np.transpose(data.samples, (3, 2, 0, 1)).reshape(
        (1, readout, spokes, coils) + (1,) * (frame_dim - 4) + (frames,)
    )
    coordinates = np.zeros(data.trajectory.shape[:3] + (3,), dtype=np.float32)
    coordinates[..., : data.trajectory.shape[3]] = data.trajectory
    trajectory = np.transpose(coordinates, (3, 2, 1, 0)).reshape(
        (3, readout, spokes) + (1,) * (frame_dim - 3) + (frames,)
    )
    write_cfl(kspace_base, kspace)
    write_cfl(trajectory_base, trajectory.astype(np.complex64))
