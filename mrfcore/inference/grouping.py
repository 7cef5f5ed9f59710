"""Groups of similar atoms: the structure behind fast group matching (FGM) and the
branch-and-bound exhaustive search of :mod:`mrfcore.inference.matching`.

Atoms are grouped by phase-invariant spherical k-means on the normalised compressed
atoms (similarity ``|<c, d̂>|``).  Each group keeps a unit centre (its representative)
and its angular radius, the largest angle ``arccos |<c_g, d̂_j>|`` between the centre and
one of its atoms.  Cauley et al. (2015, "Fast group matching for MR fingerprinting
reconstruction", MRM 74:523) group atoms by their correlation to a representative and
match voxels against representatives first; k-means is one way to find groups that are
tight in exactly that sense.

A grouping depends only on the atoms, so it is cached in memory per dictionary object
and, when a folder is given, on disk under a key derived from the atoms' bytes.
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mrfcore.progress import Progress

if TYPE_CHECKING:
    import torch

    from mrfcore.dictionary import Dictionary

__all__ = ["AtomGroups", "atom_groups", "build_groups", "dictionary_fingerprint",
           "normalised_atoms"]

log = logging.getLogger(__name__)

GROUPING_VERSION = 2
"""Part of the on-disk cache key of groupings; bump when :func:`build_groups` changes."""


@dataclass(eq=False)
class AtomGroups:
    """A partition of the dictionary's atoms into groups of similar atoms.

    Attributes
    ----------
    order
        int64 (N,): atom indices sorted by group; group g holds
        ``order[starts[g]:starts[g + 1]]``.
    starts
        int64 (G + 1,).
    centres
        complex64 (G, s), unit norm: the group representatives.
    radius_rad
        float64 (G,): ``β_g = max_{j∈g} arccos |<c_g, d̂_j>|`` (rad).
    method
        How the groups were made (for provenance).
    """

    order: np.ndarray
    starts: np.ndarray
    centres: np.ndarray
    radius_rad: np.ndarray
    method: str

    @property
    def n_groups(self) -> int:
        return int(self.centres.shape[0])

    def sizes(self) -> np.ndarray:
        return np.diff(self.starts)


def dictionary_fingerprint(dictionary: Dictionary) -> str:
    """Hash of the atoms themselves (keys cached groupings)."""
    digest = hashlib.sha256()
    digest.update(str(dictionary.sequence_hash).encode())
    digest.update(np.ascontiguousarray(dictionary.atoms).tobytes())
    return digest.hexdigest()[:16]


def normalised_atoms(dictionary: Dictionary) -> np.ndarray:
    """complex64 (N, s): ``atoms[j] / norms[j]`` (atoms of norm 0 stay 0)."""
    atoms = np.asarray(dictionary.atoms, dtype=np.complex64)
    norms = np.asarray(dictionary.norms, dtype=np.float32)
    return atoms / np.where(norms > 0, norms, 1.0)[:, None]


def build_groups(
    normalised_atoms: np.ndarray,
    n_groups: int,
    iterations: int = 20,
    seed: int = 0,
    progress: Progress | None = None,
) -> AtomGroups:
    """Group atoms by phase-invariant spherical k-means.

    Similarity is ``|<c, d̂>|`` (a voxel's phase is arbitrary, so an atom and its
    multiples by e^{iθ} belong together); a group's centre is the leading eigenvector of
    ``Σ_j d̂_j d̂_j^H`` over its atoms, the unit vector maximising ``Σ |<c, d̂_j>|²``.
    Seeds by k-means++ (deterministic for a given ``seed``).
    """
    import torch

    progress = progress or Progress()
    atoms = torch.from_numpy(np.ascontiguousarray(normalised_atoms, dtype=np.complex64))
    n_atoms = atoms.shape[0]
    n_groups = int(min(max(n_groups, 1), n_atoms))
    generator = np.random.default_rng(seed)
    atom_rows = torch.cat([atoms.real, atoms.imag], dim=1)  # (N, 2s)

    def similarity(centres: torch.Tensor) -> torch.Tensor:
        # |<c_g, d̂_j>|² for all j, g: (N, G), in real arithmetic (3× faster than complex).
        g = centres.shape[0]
        columns = torch.cat([torch.cat([centres.real, centres.imag], dim=1),
                             torch.cat([-centres.imag, centres.real], dim=1)]).T
        scores = atom_rows @ columns
        return scores[:, :g].square_().add_(scores[:, g:].square_())

    # k-means++ seeding on the distance 1 - |<c, d̂>|².
    centres = atoms[[int(generator.integers(n_atoms))]]
    closest = 1.0 - similarity(centres)[:, 0]
    for count in range(1, n_groups):
        if count % 64 == 0:
            progress(count, n_groups + iterations, "grouping atoms: seeding")
        weights = closest.clamp_min(0).double().numpy()
        total = weights.sum()
        pick = int(generator.choice(n_atoms, p=weights / total)) if total > 0 else count
        centres = torch.cat([centres, atoms[[pick]]])
        closest = torch.minimum(closest, 1.0 - similarity(atoms[[pick]])[:, 0])
    _, labels = _closest_centres(atom_rows, centres)
    for iteration in range(iterations):
        progress(n_groups + iteration, n_groups + iterations, "grouping atoms: k-means")
        centres = _group_centres(atoms, labels, n_groups)
        fit, new_labels = _closest_centres(atom_rows, centres)
        # An emptied group takes the atom that fits its own centre worst.
        counts = torch.bincount(new_labels, minlength=n_groups)
        for empty in torch.nonzero(counts == 0).flatten().tolist():
            worst = int(fit.argmin())
            new_labels[worst] = empty
            fit[worst] = 2.0  # never pick the same atom twice
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    centres = _group_centres(atoms, labels, n_groups)
    return _groups_from_labels(atoms, labels.numpy(), centres, f"spherical k-means, "
                               f"{n_groups} groups, seed {seed}")


def _closest_centres(
    atom_rows: torch.Tensor, centres: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(``max_g |<c_g, d̂_j>|²`` (N,), its g (N,)) for atoms given as real rows
    ``[Re d̂, Im d̂]`` (N, 2s): the matching kernel, with the centres as the atoms."""
    import torch

    from mrfcore.inference.matching import _AtomTable, _Scorer
    from mrfcore.inference.parallel import (
        PIECES_PER_THREAD,
        cpu_workers,
        in_parallel,
        torch_threads,
    )

    n_atoms, device = atom_rows.shape[0], atom_rows.device
    table = _AtomTable(centres, None, [0, centres.shape[0]])
    fit = torch.empty(n_atoms, device=device)
    labels = torch.empty(n_atoms, dtype=torch.int64, device=device)
    workers = cpu_workers(device)
    pieces = PIECES_PER_THREAD * workers
    cuts = [n_atoms * i // pieces for i in range(pieces + 1)]

    def assign(first: int, stop: int) -> None:
        _Scorer(table, device).best(atom_rows[first:stop], 0, fit[first:stop],
                                    labels[first:stop])

    with torch_threads(1):
        in_parallel([(lambda _, a=a, b=b: assign(a, b))
                     for a, b in zip(cuts[:-1], cuts[1:], strict=True)], workers)
    return fit, labels


def _group_centres(atoms: torch.Tensor, labels: torch.Tensor, n_groups: int) -> torch.Tensor:
    import torch

    s = atoms.shape[1]
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=n_groups).tolist()
    scatter = torch.zeros(n_groups, s, s, dtype=torch.complex128)
    start = 0
    for group, count in enumerate(counts):
        members = atoms[order[start : start + count]].to(torch.complex128)
        scatter[group] = members.T @ members.conj()  # Σ d̂ d̂^H
        start += count
    _, vectors = torch.linalg.eigh(scatter)
    return vectors[:, :, -1].to(torch.complex64)  # leading eigenvector, unit norm


def _groups_from_labels(
    atoms: torch.Tensor, labels: np.ndarray, centres: torch.Tensor, method: str
) -> AtomGroups:
    import torch

    n_groups = centres.shape[0]
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    correlation = (atoms * centres[torch.from_numpy(labels)].conj()).sum(dim=1).abs()
    angle = np.arccos(np.clip(correlation.double().numpy(), 0.0, 1.0))
    radius = np.zeros(n_groups)
    np.maximum.at(radius, labels, angle)
    return AtomGroups(order.astype(np.int64), starts, centres.numpy(), radius, method)


_MEMORY_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def atom_groups(
    dictionary: Dictionary,
    n_groups: int = 100,
    cache_folder: Path | None = None,
    progress: Progress | None = None,
    build: bool = True,
) -> AtomGroups | None:
    """The grouping of a dictionary's atoms, cached in memory and (optionally) on disk.

    Parameters
    ----------
    dictionary
        Its normalised atoms are grouped.
    n_groups
        Number of groups G (at most the number of atoms).
    cache_folder
        Folder for ``groups_<dictionary hash>_<G>_v<version>.npz``; ``None`` keeps the
        grouping in memory only.
    build
        ``False``: return ``None`` instead of computing a grouping that is not cached.
    """
    per_dictionary = _MEMORY_CACHE.setdefault(dictionary, {})
    n_groups = int(min(max(n_groups, 1), dictionary.n_atoms))
    if n_groups in per_dictionary:
        return per_dictionary[n_groups]
    path = None
    if cache_folder is not None:
        key = dictionary_fingerprint(dictionary)
        path = Path(cache_folder) / f"groups_{key}_{n_groups}_v{GROUPING_VERSION}.npz"
        groups = _load_groups(path, dictionary.n_atoms)
        if groups is not None:
            per_dictionary[n_groups] = groups
            return groups
    if not build:
        return None
    groups = build_groups(normalised_atoms(dictionary), n_groups, progress=progress)
    if path is not None:
        _save_groups(path, groups)
    per_dictionary[n_groups] = groups
    return groups


def _save_groups(path: Path, groups: AtomGroups) -> None:
    from mrfcore.io.atomic import atomic_path

    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as file:
            np.savez(file, order=groups.order, starts=groups.starts, centres=groups.centres,
                     radius_rad=groups.radius_rad, method=np.array(groups.method))
    except OSError as error:
        # Only the next run has to regroup; the grouping in hand is fine.
        log.warning("could not cache the atom grouping in %s: %s", path, error)


def _load_groups(path: Path, n_atoms: int) -> AtomGroups | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as file:
            groups = AtomGroups(file["order"], file["starts"], file["centres"],
                                file["radius_rad"], str(file["method"]))
        if groups.order.shape != (n_atoms,) or int(groups.starts[-1]) != n_atoms:
            raise ValueError("atom count does not match the dictionary")
        return groups
    except (OSError, ValueError, KeyError) as error:
        log.warning("ignoring the damaged atom-grouping cache %s: %s", path, error)
        path.unlink(missing_ok=True)
        return None


