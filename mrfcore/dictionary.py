"""MRF dictionaries: parameter grids, generation in chunks, the SVD subspace, an on-disk cache.

A dictionary holds one simulated fingerprint (atom) per grid point Θ = (T1, T2[, B1]),
compressed into the temporal subspace V (T × s) of the whole dictionary: atoms are
``V^H d_j`` with ``d_j`` the EPG fingerprint for M0 = 1.

The uncompressed dictionary (113,781 × 880 complex64 = 800 MB for the paper's grid) is
never held in memory.  Generation simulates every atom exactly once, in chunks:

1. *Pilot*: simulate a random subset of the grid first (``pilot_atoms``, 4096 by
   default, 33 MB at T = 1000) and find its leading ``r`` right singular vectors,
   ``r = max(2 s, s + 20)``, by a seeded randomized range finder in float64.
2. *Full pass*: compress the pilot's fingerprints and then every other chunk onto those
   ``r`` vectors (N × r stays small: 27 MB for the paper grid) while accumulating the
   total energy ``Σ ||d_j||²``.
3. *Rayleigh–Ritz*: the best rank-s subspace inside the ``r``-dimensional one for the
   whole grid, from the ``r × r`` Gram matrix of the compressed atoms.  Its captured
   energy is computed from every atom, not estimated.

The pilot's own top-s basis alone already captures the energy of the optimal rank-s
subspace to within ~1e-7 on the built-in sequences (``mrf bench dictionary --accuracy``);
the Rayleigh–Ritz step costs nothing measurable and removes even that.  Grids no larger
than the pilot are decomposed exactly (SVD in float64).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.progress import Progress, ProgressCallback, ensure_progress

if TYPE_CHECKING:
    import torch

    from mrfcore.sequences import Sequence

__all__ = [
    "GRID_PRESETS",
    "Dictionary",
    "ParameterGrid",
    "build_dictionary",
    "dictionary_cache_key",
    "dictionary_cache_path",
    "grid_preset",
    "inclusive_range",
    "load_or_build_dictionary",
]

log = logging.getLogger(__name__)

FORMAT_NAME = "mrf-studio-dictionary"
FORMAT_VERSION = 1
ALGORITHM_VERSION = 1
"""Bump when :func:`build_dictionary` gives different results for the same inputs; it is
part of every cache key."""
DEFAULT_PILOT_ATOMS = 4096
_PILOT_SEED = 20240601
_POWER_ITERATIONS = 3


# ------------------------------------------------------------------------------ grids


def inclusive_range(name: str, spec: tuple[float, float, float]) -> np.ndarray:
    """``start, start + step, ... ≤ stop`` without float drift dropping ``stop``."""
    try:
        start, stop, step = (float(v) for v in spec)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (start, stop, step), got {spec!r}") from None
    if not (math.isfinite(start) and math.isfinite(stop) and math.isfinite(step)):
        raise ValueError(f"{name} must be finite, got {spec!r}")
    if step <= 0 or stop < start:
        raise ValueError(f"{name}: need step > 0 and stop ≥ start, got {spec!r}")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    return start + step * np.arange(count, dtype=np.float64)


def _grid_hash(*arrays: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(b"none" if array is None else np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


@dataclass(eq=False)
class ParameterGrid:
    """The atoms' parameters, one entry per atom.

    Attributes
    ----------
    t1_ms, t2_ms
        float32 (N,): T1 and T2 (ms).
    b1
        float32 (N,): relative transmit field (1 = nominal flip angle), or ``None``.
    spec
        How the grid was made (for people and file metadata); the arrays are the truth.
    """

    t1_ms: np.ndarray
    t2_ms: np.ndarray
    b1: np.ndarray | None = None
    spec: dict[str, Any] = field(default_factory=lambda: {"kind": "custom"}, repr=False)

    def __post_init__(self) -> None:
        self.t1_ms = np.asarray(self.t1_ms, dtype=np.float32).reshape(-1)
        self.t2_ms = np.asarray(self.t2_ms, dtype=np.float32).reshape(-1)
        if self.b1 is not None:
            self.b1 = np.asarray(self.b1, dtype=np.float32).reshape(-1)
        n = self.t1_ms.size
        if n == 0:
            raise ValueError("the parameter grid is empty")
        for name in ("t2_ms", "b1"):
            values = getattr(self, name)
            if values is not None and values.size != n:
                raise ValueError(f"grid {name} has {values.size} values but t1_ms has {n}")
        for name in ("t1_ms", "t2_ms", "b1"):
            values = getattr(self, name)
            if values is not None and not (np.all(np.isfinite(values)) and np.all(values > 0)):
                raise ValueError(f"grid {name} must be finite and > 0")

    # -- constructors

    @classmethod
    def paper(cls) -> ParameterGrid:
        """T1 100:10:4000 ms × T2 20:2:600 ms (all pairs, 391 × 291 = 113,781 atoms)."""
        grid = cls.regular((100, 4000, 10), (20, 600, 2))
        grid.spec = {**grid.spec, "kind": "paper"}
        return grid

    @classmethod
    def regular(
        cls,
        t1_range: tuple[float, float, float],
        t2_range: tuple[float, float, float],
        b1_values: np.ndarray | list[float] | None = None,
        t2_le_t1: bool = False,
    ) -> ParameterGrid:
        """All combinations of linear ranges ``(start, stop, step)`` (stop inclusive, ms).

        Atoms are ordered T1-major, then T2, then B1.  ``t2_le_t1`` drops T2 > T1.
        """
        t1 = inclusive_range("t1_range", t1_range)
        t2 = inclusive_range("t2_range", t2_range)
        spec = {
            "kind": "regular",
            "t1_range_ms": [float(v) for v in t1_range],
            "t2_range_ms": [float(v) for v in t2_range],
        }
        return cls._product(t1, t2, b1_values, t2_le_t1, spec)

    @classmethod
    def log_spaced(
        cls,
        t1_min: float,
        t1_max: float,
        n_t1: int,
        t2_min: float,
        t2_max: float,
        n_t2: int,
        b1_values: np.ndarray | list[float] | None = None,
        t2_le_t1: bool = True,
    ) -> ParameterGrid:
        """Geometric T1 and T2 axes (ms, endpoints included): constant relative spacing."""
        for name, low, high, count in (("T1", t1_min, t1_max, n_t1), ("T2", t2_min, t2_max, n_t2)):
            if not (0 < low <= high and int(count) >= 1) or (low == high and int(count) > 1):
                raise ValueError(
                    f"log-spaced {name} axis needs 0 < min ≤ max and count ≥ 1, "
                    f"got {low!r}, {high!r}, {count!r}"
                )
        t1 = np.geomspace(t1_min, t1_max, int(n_t1))
        t2 = np.geomspace(t2_min, t2_max, int(n_t2))
        spec = {
            "kind": "log",
            "t1_ms": [float(t1_min), float(t1_max), int(n_t1)],
            "t2_ms": [float(t2_min), float(t2_max), int(n_t2)],
        }
        return cls._product(t1, t2, b1_values, t2_le_t1, spec)

    @classmethod
    def _product(
        cls,
        t1: np.ndarray,
        t2: np.ndarray,
        b1_values: np.ndarray | list[float] | None,
        t2_le_t1: bool,
        spec: dict[str, Any],
    ) -> ParameterGrid:
        b1_axis = None if b1_values is None else np.asarray(b1_values, dtype=np.float64).ravel()
        if b1_axis is not None and b1_axis.size == 0:
            raise ValueError("b1_values is empty; pass None for no B1 axis")
        axes = [t1, t2] + ([b1_axis] if b1_axis is not None else [])
        mesh = [m.ravel() for m in np.meshgrid(*axes, indexing="ij")]
        keep = mesh[1] <= mesh[0] if t2_le_t1 else np.ones(mesh[0].size, dtype=bool)
        if not keep.any():
            raise ValueError("no grid point has T2 ≤ T1")
        spec = {
            **spec,
            "b1": None if b1_axis is None else [float(v) for v in b1_axis],
            "t2_le_t1": bool(t2_le_t1),
        }
        b1 = mesh[2][keep] if b1_axis is not None else None
        return cls(mesh[0][keep], mesh[1][keep], b1, spec)

    # -- queries

    @property
    def n_atoms(self) -> int:
        return int(self.t1_ms.size)

    def content_hash(self) -> str:
        """Hash of the parameter values themselves (keys the dictionary cache)."""
        return _grid_hash(self.t1_ms, self.t2_ms, self.b1)

    def describe(self) -> dict[str, Any]:
        """JSON-able description: how it was made, its extent and a content hash."""

        def extent(values: np.ndarray | None) -> list[float] | None:
            return None if values is None else [float(values.min()), float(values.max())]

        return {
            **self.spec,
            "n_atoms": self.n_atoms,
            "t1_extent_ms": extent(self.t1_ms),
            "t2_extent_ms": extent(self.t2_ms),
            "b1_extent": extent(self.b1),
            "content_hash": self.content_hash(),
        }

    def subset(self, indices: np.ndarray) -> ParameterGrid:
        """The atoms at ``indices`` (a custom grid)."""
        b1 = None if self.b1 is None else self.b1[indices]
        return ParameterGrid(
            self.t1_ms[indices],
            self.t2_ms[indices],
            b1,
            {"kind": "subset", "of": self.content_hash()},
        )


GRID_PRESETS: dict[str, str] = {
    "paper": "T1 100:10:4000 ms × T2 20:2:600 ms, 113,781 atoms (the MRFResnet/LRTV papers)",
    "coarse": "T1 100:40:4000 ms × T2 20:10:600 ms, 5,782 atoms (quick previews)",
    "log": "T1 10–5000 ms × T2 2–3000 ms, 200 × 150 log-spaced, T2 ≤ T1 (~19,000 atoms)",
}


def grid_preset(name: str, b1_values: np.ndarray | list[float] | None = None) -> ParameterGrid:
    """A named grid from :data:`GRID_PRESETS`, optionally with a B1 axis."""
    if name == "paper":
        grid = ParameterGrid.regular((100, 4000, 10), (20, 600, 2), b1_values)
    elif name == "coarse":
        grid = ParameterGrid.regular((100, 4000, 40), (20, 600, 10), b1_values)
    elif name == "log":
        grid = ParameterGrid.log_spaced(10, 5000, 200, 2, 3000, 150, b1_values)
    else:
        raise ValueError(f"unknown grid {name!r}; choose one of {sorted(GRID_PRESETS)}")
    grid.spec = {**grid.spec, "kind": name}
    return grid


# ------------------------------------------------------------------------- dictionary


@dataclass(eq=False)
class Dictionary:
    """A compressed MRF dictionary.

    Attributes
    ----------
    sequence_hash
        :meth:`Sequence.content_hash` of the schedule it was simulated for.
    t1_ms, t2_ms
        float32 (N,): the atoms' T1 and T2 (ms).
    b1
        float32 (N,) relative B1 of each atom, or ``None``.
    basis
        complex64 (T, s): temporal subspace V, orthonormal columns.  A time series x
        (T,) compresses to ``V^H x``; ``basis @ atoms[j]`` approximates fingerprint j.
    atoms
        complex64 (N, s): ``V^H d_j`` for the fingerprint ``d_j`` with M0 = 1 (not
        normalised).
    norms
        float32 (N,): ``||atoms[j]||``; PD = <x, d_j> / norms[j]².
    singular_values
        float32 (≥ s,): leading singular values of the (uncompressed) dictionary.
    energy_captured
        Fraction of the dictionary's energy ``Σ ||d_j||²`` that the s components keep.
    metadata
        JSON-able: sequence name, grid description, rank, software version, creation
        time, timings, method.
    """

    sequence_hash: str
    t1_ms: np.ndarray
    t2_ms: np.ndarray
    b1: np.ndarray | None
    basis: np.ndarray
    atoms: np.ndarray
    norms: np.ndarray
    singular_values: np.ndarray
    energy_captured: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, s = self.atoms.shape
        problems = []
        if self.basis.ndim != 2 or self.basis.shape[1] != s:
            problems.append(f"basis has shape {self.basis.shape}, expected (frames, {s})")
        for name in ("t1_ms", "t2_ms", "norms") + (("b1",) if self.b1 is not None else ()):
            if getattr(self, name).shape != (n,):
                problems.append(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")
        if self.singular_values.ndim != 1 or self.singular_values.size < s:
            problems.append(f"{self.singular_values.size} singular values for rank {s}")
        if problems:
            raise ValueError("inconsistent dictionary: " + "; ".join(problems))

    @property
    def rank(self) -> int:
        return int(self.atoms.shape[1])

    @property
    def n_atoms(self) -> int:
        return int(self.atoms.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.basis.shape[0])

    def parameter_names(self) -> list[str]:
        return ["t1_ms", "t2_ms"] + (["b1"] if self.b1 is not None else [])

    def parameters(self) -> np.ndarray:
        """float32 (N, P): columns as :meth:`parameter_names` (T1, T2 [, B1])."""
        columns = [self.t1_ms, self.t2_ms] + ([self.b1] if self.b1 is not None else [])
        return np.stack(columns, axis=1).astype(np.float32, copy=False)

    def grid(self) -> ParameterGrid:
        spec = self.metadata.get("grid") or {"kind": "custom"}
        return ParameterGrid(self.t1_ms, self.t2_ms, self.b1, dict(spec))

    def compress(self, signals: np.ndarray) -> np.ndarray:
        """Time series (..., T) → subspace coefficients (..., s): ``V^H x`` per series."""
        return np.asarray(signals) @ self.basis.conj()

    def expand(self, coefficients: np.ndarray) -> np.ndarray:
        """Subspace coefficients (..., s) → time series (..., T): ``V c`` per series."""
        return np.asarray(coefficients) @ self.basis.T

    # -- files

    def save(self, path: str | Path) -> Path:
        """Write one HDF5 file (atomically: a crash leaves no half-written file)."""
        import h5py

        from mrfcore.io.atomic import atomic_path

        path = Path(path)
        with atomic_path(path) as temporary, h5py.File(temporary, "w") as file:
            file.attrs["format"] = FORMAT_NAME
            file.attrs["format_version"] = FORMAT_VERSION
            file.attrs["sequence_hash"] = self.sequence_hash
            file.attrs["energy_captured"] = float(self.energy_captured)
            file.attrs["metadata"] = json.dumps(self.metadata)
            for name in ("t1_ms", "t2_ms", "norms", "singular_values"):
                file.create_dataset(name, data=np.asarray(getattr(self, name), np.float32))
            if self.b1 is not None:
                file.create_dataset("b1", data=np.asarray(self.b1, np.float32))
            file.create_dataset("basis", data=np.asarray(self.basis, np.complex64))
            file.create_dataset("atoms", data=np.asarray(self.atoms, np.complex64))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Dictionary:
        """Read a file written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ValueError
            Naming the file, if it is not an MRF Studio dictionary, has another format
            version, or is incomplete or damaged.
        """
        import h5py

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such dictionary file")
        try:
            with h5py.File(path, "r") as file:
                if file.attrs.get("format") != FORMAT_NAME:
                    raise ValueError(f"{path}: not an MRF Studio dictionary file")
                version = int(file.attrs.get("format_version", -1))
                if version != FORMAT_VERSION:
                    raise ValueError(
                        f"{path}: dictionary file format version {version}; this version of "
                        f"MRF Studio reads version {FORMAT_VERSION} (rebuild the dictionary)"
                    )
                arrays = {
                    name: file[name][()]
                    for name in ("t1_ms", "t2_ms", "norms", "singular_values", "basis", "atoms")
                }
                b1 = file["b1"][()] if "b1" in file else None
                return cls(
                    sequence_hash=str(file.attrs["sequence_hash"]),
                    b1=b1,
                    energy_captured=float(file.attrs["energy_captured"]),
                    metadata=json.loads(file.attrs["metadata"]),
                    **arrays,
                )
        except ValueError as error:
            message = str(error)
            raise ValueError(
                message if message.startswith(str(path)) else f"{path}: {message}"
            ) from None
        except (OSError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: damaged or incomplete dictionary file ({error})") from None


# ----------------------------------------------------------------------- generation


def _default_chunk_size(n_frames: int, device: torch.device) -> int:
    # The simulation works through its input in power-of-two blocks (≤ 8192 atoms on a
    # CPU, 65536 on a GPU), so whole multiples of those waste no partial blocks; ~64 MB
    # of fingerprints per chunk on a CPU.
    block, budget = (8192, 64e6) if device.type == "cpu" else (65536, 1e9)
    return block * max(1, round(budget / (block * 8 * n_frames)))


def _simulate(
    sequence: Sequence,
    grid: ParameterGrid,
    indices: np.ndarray | slice,
    device: torch.device,
    max_states: int | None,
    progress: Progress,
) -> torch.Tensor:
    from mrfcore import simulation

    b1 = None if grid.b1 is None else grid.b1[indices]
    return simulation.simulate_fingerprints(
        sequence,
        grid.t1_ms[indices],
        grid.t2_ms[indices],
        b1,
        device=device,
        max_states=max_states,
        progress=progress,
    )


def _chunks(total: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, total)) for start in range(0, total, size)]


def build_dictionary(
    sequence: Sequence,
    grid: ParameterGrid | None = None,
    rank: int = 10,
    *,
    device: str | torch.device | None = None,
    chunk_size: int | None = None,
    progress: Progress | ProgressCallback | None = None,
    max_states: int | None = None,
    pilot_atoms: int | None = None,
) -> Dictionary:
    """Simulate and compress a dictionary (see the module notes for the method).

    Parameters
    ----------
    sequence
        The MRF schedule (T frames).
    grid
        Atom parameters; :meth:`ParameterGrid.paper` by default.
    rank
        Subspace dimension s (1 ≤ s ≤ min(T, N)).
    device
        Compute device choice (``None``/``"auto"``, ``"cpu"``, ``"cuda"`` ...).
    chunk_size
        Atoms simulated at a time (memory ∝ chunk_size × T); automatic by default.
    progress
        Called per chunk; cancelling raises :class:`mrfcore.progress.Cancelled`.
    max_states
        EPG state truncation, passed to the simulation.
    pilot_atoms
        Size of the random subset whose SVD seeds the subspace (default 4096).  Grids
        no larger than this are decomposed exactly.
    """
    import torch

    from mrfcore import __version__
    from mrfcore.device import select_device

    started = time.perf_counter()
    grid = ParameterGrid.paper() if grid is None else grid
    progress = ensure_progress(progress)
    device = select_device(device)
    n_atoms, n_frames = grid.n_atoms, sequence.n_frames
    if (
        isinstance(rank, bool)
        or not isinstance(rank, int | np.integer)
        or not (1 <= rank <= min(n_frames, n_atoms))
    ):
        raise ValueError(
            f"rank must be an integer from 1 to min(frames, atoms) = "
            f"{min(n_frames, n_atoms)}, got {rank!r}"
        )
    rank = int(rank)
    chunk_size = int(chunk_size or _default_chunk_size(n_frames, device))
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size}")
    pilot_atoms = DEFAULT_PILOT_ATOMS if pilot_atoms is None else int(pilot_atoms)
    exact = n_atoms <= pilot_atoms
    if not exact and pilot_atoms < rank:
        raise ValueError(f"pilot_atoms ({pilot_atoms}) must be at least the rank ({rank})")
    if exact:
        pilot, rest = np.arange(n_atoms), np.arange(0)
    else:
        chosen = np.zeros(n_atoms, dtype=bool)
        chosen[np.random.default_rng(_PILOT_SEED).choice(n_atoms, pilot_atoms, replace=False)] = 1
        pilot, rest = np.flatnonzero(chosen), np.flatnonzero(~chosen)
    n_pilot = pilot.size
    work_rank = min(n_frames, n_pilot, max(2 * rank, rank + 20))
    timings: dict[str, float] = {}

    def simulate_in_chunks(indices: np.ndarray, offset: int, label: str):
        """Yield (slice into ``indices``, their fingerprints) chunk by chunk."""
        for part in _chunks(indices.size, chunk_size):
            stage = progress.stage(
                (offset + part.start) / n_atoms, (offset + part.stop) / n_atoms, label
            )
            yield part, _simulate(sequence, grid, indices[part], device, max_states, stage)
            # Report per chunk whatever the simulation reports, so cancelling always works.
            done = (offset + part.stop) / n_atoms
            progress(round(1000 * done), 1000, f"{label}: {part.stop:,}/{indices.size:,} atoms")

    # Atoms are compressed in the order pilot, rest (and put back in grid order at the
    # end): the pilot's fingerprints are kept to seed the subspace, then compressed like
    # every other chunk, so every atom is simulated exactly once.
    pilot_fingerprints = torch.empty(n_pilot, n_frames, dtype=torch.complex64, device=device)
    label = "simulating atoms" if exact else "pilot subspace"
    for part, chunk in simulate_in_chunks(pilot, 0, label):
        pilot_fingerprints[part] = chunk
        del chunk
    wide_basis = _leading_right_vectors(pilot_fingerprints, work_rank, exact)  # float64, CPU
    wide_basis_conj = wide_basis.conj().to(device=device, dtype=torch.complex64)
    wide_atoms = torch.empty(n_atoms, work_rank, dtype=torch.complex64, device=device)
    wide_atoms[:n_pilot] = pilot_fingerprints @ wide_basis_conj
    total_energy = _energy(pilot_fingerprints)
    del pilot_fingerprints
    timings["pilot_s"] = time.perf_counter() - started
    for part, chunk in simulate_in_chunks(rest, n_pilot, "simulating atoms"):
        wide_atoms[n_pilot + part.start : n_pilot + part.stop] = chunk @ wide_basis_conj
        total_energy += _energy(chunk)
        del chunk
    timings["full_pass_s"] = time.perf_counter() - started - timings["pilot_s"]
    if not exact:
        grid_order = np.argsort(np.concatenate([pilot, rest]))
        wide_atoms = wide_atoms[torch.from_numpy(grid_order).to(device)]

    # Rayleigh–Ritz: the best rank-s subspace of span(wide_basis) for the whole grid.
    # float64 for the Gram matrix (MPS has none: there it is formed on the CPU, once).
    source = wide_atoms.cpu() if device.type == "mps" else wide_atoms
    gram = (source.mH.to(torch.complex128) @ source.to(torch.complex128)).cpu()
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    rotation = _phase_fixed(wide_basis, eigenvectors[:, :rank])
    basis = (wide_basis @ rotation.conj()).to(torch.complex64)
    atoms = wide_atoms @ rotation.to(device=device, dtype=torch.complex64)
    total = float(total_energy)
    captured = float(_energy(atoms)) / total if total > 0 else 1.0
    pilot_captured = float(_energy(wide_atoms[:, :rank])) / total if total > 0 else 1.0
    singular_values = eigenvalues.clamp_min(0).sqrt().to(torch.float32).numpy()
    atoms_np = atoms.cpu().numpy()
    timings["total_s"] = time.perf_counter() - started
    progress(1000, 1000, "dictionary ready")

    metadata = {
        "sequence_name": sequence.name,
        "sequence_hash": sequence.content_hash(),
        "frames": n_frames,
        "grid": grid.describe(),
        "rank": rank,
        "software_version": __version__,
        "format_version": FORMAT_VERSION,
        "algorithm_version": ALGORITHM_VERSION,
        "method": "exact SVD" if exact else "pilot subspace + Rayleigh-Ritz on all atoms",
        "pilot_atoms": n_pilot,
        "working_rank": work_rank,
        "energy_captured_pilot_basis": pilot_captured,
        "max_states": max_states,
        "device": str(device),
        "chunk_size": chunk_size,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings_s": timings,
    }
    return Dictionary(
        sequence_hash=sequence.content_hash(),
        t1_ms=grid.t1_ms.copy(),
        t2_ms=grid.t2_ms.copy(),
        b1=None if grid.b1 is None else grid.b1.copy(),
        basis=basis.cpu().numpy(),
        atoms=atoms_np,
        norms=np.linalg.norm(atoms_np, axis=1).astype(np.float32),
        singular_values=singular_values,
        energy_captured=min(captured, 1.0),
        metadata=metadata,
    )


def _energy(values: torch.Tensor) -> torch.Tensor:
    """Σ |v|² over a (rows, columns) tensor, in float64 (0-d, on the values' device).

    Row norms in float32 (accurate to ~1e-7 relative), summed in float64: no float64
    copy of a whole chunk of fingerprints is made.
    """
    import torch

    # On the real view: torch's complex vector_norm is ~40× slower on a CPU.
    rows = torch.view_as_real(values).reshape(values.shape[0], -1)
    return torch.linalg.vector_norm(rows, dim=1).to(torch.float64).square().sum()


def _leading_right_vectors(fingerprints: torch.Tensor, count: int, exact: bool) -> torch.Tensor:
    """V (T, count), complex128 on the CPU, orthonormal columns spanning the leading
    subspace of the fingerprints (rows of the (atoms × T) matrix D).

    With the SVD ``D = U S Vh``, fingerprint j as a column is ``d_j = Vhᵀ S U[j]ᵀ``: its
    subspace is spanned by the columns of ``Vhᵀ`` (transposed, not conjugated), and
    ``V^H d_j = S U[j]ᵀ``.  The algebra runs in float64 so that V is orthonormal to
    ~1e-15 and the captured energy is exact to float32 rounding of the atoms; in float32
    it was orthonormal to only ~1e-6, the size of the residual energies being reported.

    ``exact``: an SVD (or, for more atoms than frames, the eigenvectors of D^H D; only
    the leading ones are used, whose accuracy in float64 is ample).  Otherwise a
    randomized range finder with a fixed seed and power iterations (Halko et al. 2011):
    fingerprint spectra decay fast, and the Rayleigh–Ritz step that follows only needs
    the span.  On a 4096 × 880 pilot it takes 0.3 s of one core, against 3.2 s for the
    full float64 SVD.
    """
    import torch

    matrix = fingerprints.to(device="cpu", dtype=torch.complex128)
    n_rows, n_frames = matrix.shape
    if exact and n_rows <= n_frames:
        _, _, vh = torch.linalg.svd(matrix, full_matrices=False)
        return vh[:count].T.contiguous()
    if exact:
        # D^H D = Vh^H S² Vh: its eigenvectors are the columns of conj(Vhᵀ).
        _, vectors = torch.linalg.eigh(matrix.mH @ matrix)
        return vectors.flip(1)[:, :count].conj().contiguous()
    oversampled = min(count + 10, n_rows, n_frames)
    generator = torch.Generator().manual_seed(_PILOT_SEED)
    probe = torch.randn(n_frames, oversampled, dtype=matrix.dtype, generator=generator)
    range_basis = torch.linalg.qr(matrix @ probe).Q
    for _ in range(_POWER_ITERATIONS):
        co_range = torch.linalg.qr(matrix.mH @ range_basis).Q
        range_basis = torch.linalg.qr(matrix @ co_range).Q
    _, _, vh = torch.linalg.svd(range_basis.mH @ matrix, full_matrices=False)
    return vh[:count].T.contiguous()


def _phase_fixed(wide_basis: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """``rotation`` with each column's phase chosen so that the basis vector it makes,
    ``wide_basis @ conj(column)``, has its largest entry real and positive: singular
    vectors are unique only up to phase, and this makes the result reproducible."""
    import torch

    basis = wide_basis @ rotation.conj()
    peak = basis[basis.abs().argmax(dim=0), torch.arange(basis.shape[1])]
    return rotation * (peak / peak.abs().clamp_min(1e-300))


# ---------------------------------------------------------------------------- cache


def _simulation_fingerprint() -> str | None:
    """Hash of the simulation's source, so an EPG change invalidates cached dictionaries
    even before the version number moves (``None`` where the source is not shipped)."""
    spec = importlib.util.find_spec("mrfcore.simulation")
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    try:
        return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def dictionary_cache_key(
    sequence: Sequence,
    grid: ParameterGrid | None = None,
    rank: int = 10,
    max_states: int | None = None,
) -> str:
    """16 hex digits identifying what :func:`build_dictionary` would produce."""
    from mrfcore import __version__

    grid = ParameterGrid.paper() if grid is None else grid
    payload = {
        "sequence": sequence.content_hash(),
        "grid": grid.content_hash(),
        "n_atoms": grid.n_atoms,
        "b1": grid.b1 is not None,
        "rank": int(rank),
        "max_states": max_states,
        "pilot_atoms": DEFAULT_PILOT_ATOMS,
        "software": __version__,
        "algorithm": ALGORITHM_VERSION,
        "format": FORMAT_VERSION,
        "simulation": _simulation_fingerprint(),
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dictionary_cache_path(
    sequence: Sequence,
    grid: ParameterGrid | None = None,
    rank: int = 10,
    max_states: int | None = None,
) -> Path:
    """Where :func:`load_or_build_dictionary` keeps this dictionary."""
    from mrfcore.resources import cache_dir

    key = dictionary_cache_key(sequence, grid, rank, max_states)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", sequence.name)[:40] or "sequence"
    return cache_dir() / "dictionaries" / f"{name}_s{int(rank)}_{key}.h5"


def load_or_build_dictionary(
    sequence: Sequence,
    grid: ParameterGrid | None = None,
    rank: int = 10,
    *,
    device: str | torch.device | None = None,
    progress: Progress | ProgressCallback | None = None,
    cache: bool = True,
    max_states: int | None = None,
) -> Dictionary:
    """The dictionary from the user's cache, or built (and cached) when missing.

    A cache file that cannot be read is logged, deleted and rebuilt.  With
    ``cache=False`` the cache is neither read nor written.  The result's
    ``metadata["cache"]`` says ``"hit"``, ``"built"`` or ``"off"`` and
    ``metadata["cache_path"]`` where the file lives.
    """
    if not cache:
        dictionary = build_dictionary(
            sequence, grid, rank, device=device, progress=progress, max_states=max_states
        )
        dictionary.metadata["cache"] = "off"
        return dictionary
    path = dictionary_cache_path(sequence, grid, rank, max_states)
    key = path.stem.rsplit("_", 1)[-1]
    if path.exists():
        try:
            dictionary = Dictionary.load(path)
            if dictionary.metadata.get("cache_key") != key:
                raise ValueError(f"{path}: cache key does not match the file name")
            dictionary.metadata.update(cache="hit", cache_path=str(path))
            return dictionary
        except (ValueError, OSError) as error:
            log.warning("rebuilding the cached dictionary: %s", error)
            path.unlink(missing_ok=True)
    dictionary = build_dictionary(
        sequence, grid, rank, device=device, progress=progress, max_states=max_states
    )
    dictionary.metadata["cache_key"] = key
    try:
        dictionary.save(path)
    except OSError as error:
        # The dictionary itself is fine; only the next request will have to rebuild it.
        log.warning("could not write the dictionary cache %s: %s", path, error)
        dictionary.metadata.update(cache="built, not cached", cache_path=None)
        return dictionary
    dictionary.metadata.update(cache="built", cache_path=str(path))
    return dictionary
