"""Dictionary matching (DM): the atom of highest correlation for every voxel.

For voxel x (in the dictionary's subspace) DM picks ``j* = argmax_j |<x, d_j>| / ||d_j||``
over all atoms of the compressed dictionary; T1, T2 (and B1) are that atom's, and
``PD = <x, d_j*> / ||d_j*||²`` (complex: its phase is the voxel's phase).  The quality
map is the match correlation ``|<x, d_j*>| / (||x|| ||d_j*||)`` in [0, 1].

The search is exhaustive — the result is the best atom of the whole dictionary — but on
a CPU it skips, by a proven bound, the groups of atoms that cannot hold the best one
(see :mod:`mrfcore.inference.matching`); on a GPU a dense blocked search is already fast.
Both give the same atoms up to float32 rounding of near-equal correlations.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mrfcore.inference.common import (
    EXTRA_B1,
    EXTRA_MATCH_CORRELATION,
    MASK_METHODS,
    VoxelBatch,
    maps_from_estimates,
    prepare_voxels,
)
from mrfcore.methods import INFERENCE, InferenceInputs, option, options_to_dict
from mrfcore.progress import Progress

if TYPE_CHECKING:
    import torch

    from mrfcore.data import QuantitativeMaps
    from mrfcore.dictionary import Dictionary
    from mrfcore.inference.matching import MatchResult

__all__ = ["DictionaryMatching", "DMOptions", "device_atoms", "run_matching"]

SEARCHES = ("auto", "pruned", "dense")


@dataclass
class DMOptions:
    mask_threshold: float = option(
        0.05, label="Background threshold", unit="× max signal", minimum=0.0, maximum=1.0,
        help="voxels whose signal norm is below this fraction of the brightest voxel's "
        "are left out (NaN in the maps)",
    )
    mask_method: str = option(
        "relative", label="Background mask", choices=MASK_METHODS, advanced=True,
        help="relative: the threshold above; otsu: Otsu's level of the signal histogram",
    )
    search: str = option(
        "auto", label="Search", choices=SEARCHES, advanced=True,
        help="pruned: skip atom groups that provably cannot win (fast on a CPU once the "
        "atoms are grouped, which is done once per dictionary and cached); dense: score "
        "every atom; auto: dense on a GPU, pruned on a CPU when the grouping is cached or "
        "there are enough voxels to pay for it.  Same result.",
    )
    n_groups: int = option(
        200, label="Atom groups (pruned search)", minimum=1, maximum=100000, advanced=True,
        help="groups of similar atoms for the pruned search; computed once per "
        "dictionary and cached",
    )


_ATOMS_ON_DEVICE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def device_atoms(dictionary: Dictionary, device: torch.device) -> dict[str, torch.Tensor]:
    """The dictionary's atoms on ``device``, uploaded once per dictionary and device.

    Returns ``{"atoms": complex64 (N, s), "normalised": complex64 (N, s) unit-norm,
    "norms": float32 (N,)}``.
    """
    import torch

    from mrfcore.inference.grouping import normalised_atoms

    per_device = _ATOMS_ON_DEVICE.setdefault(dictionary, {})
    key = str(device)
    if key not in per_device:
        per_device[key] = {
            "atoms": torch.from_numpy(dictionary.atoms.astype("complex64")).to(device),
            "normalised": torch.from_numpy(normalised_atoms(dictionary)).to(device),
            "norms": torch.from_numpy(dictionary.norms.astype("float32")).to(device),
        }
    return per_device[key]


Matcher = Callable[["torch.Tensor", "torch.Tensor", Progress], "MatchResult"]
"""``matcher(signals (V, s), normalised atoms (N, s), progress) -> MatchResult``."""


def run_matching(
    inputs: InferenceInputs,
    mask_threshold: float,
    mask_method: str,
    matcher_factory: Callable[[Dictionary, VoxelBatch, Progress],
                              tuple[Matcher, dict[str, Any]]],
    method: dict[str, Any],
    progress: Progress,
) -> tuple[QuantitativeMaps, VoxelBatch, MatchResult]:
    """Prepare voxels, match them, and build the maps (shared by DM and FGM).

    ``matcher_factory(dictionary, batch, progress)`` does any per-dictionary set-up
    (grouping) and returns the matcher and provenance entries describing it.
    """
    import torch

    from mrfcore.device import select_device
    from mrfcore.inference.parallel import cpu_workers, torch_threads

    device = select_device(inputs.device)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    dictionary = inputs.dictionary
    # Small operations on a CPU: one intra-op thread (the matching splits its own work
    # over the threads; see mrfcore.inference.parallel).
    with torch_threads(1) if cpu_workers(device) > 1 else nullcontext():
        progress(0, 1000, "projecting and masking")
        batch = prepare_voxels(inputs, mask_threshold, device, mask_method)
        atoms = device_atoms(dictionary, device)
        timings["prepare_s"] = time.perf_counter() - started
        mark = time.perf_counter()
        stage = progress.stage(0.02, 0.3, "preparing")
        matcher, details = matcher_factory(dictionary, batch, stage)
        timings["setup_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        result = matcher(batch.signals, atoms["normalised"], progress.stage(0.3, 0.97))
        timings["match_s"] = time.perf_counter() - mark
    index = result.indices
    chosen = atoms["atoms"][index]
    inner = (chosen.conj() * batch.signals).sum(dim=1)  # <x, d> = d^H x
    norms = atoms["norms"][index]
    signal_norms = torch.linalg.vector_norm(batch.signals, dim=1)
    denominator = norms * signal_norms
    correlation = torch.where(denominator > 0, inner.abs() / denominator, 0.0)
    pd = inner / torch.where(norms > 0, norms.square(), 1.0)
    index_np = index.cpu().numpy()
    extra = {EXTRA_MATCH_CORRELATION: (correlation.clamp(0.0, 1.0), "")}
    if dictionary.b1 is not None:
        extra[EXTRA_B1] = (dictionary.b1[index_np], "× nominal")
    n_voxels, n_atoms = batch.n_voxels, dictionary.n_atoms
    timings["total_s"] = time.perf_counter() - started
    provenance = {
        **method,
        **details,
        "device": str(device),
        "dictionary": {
            "sequence_hash": dictionary.sequence_hash,
            "n_atoms": n_atoms,
            "rank": dictionary.rank,
            "parameters": dictionary.parameter_names(),
        },
        "work_fraction": result.pairs_scored / max(n_voxels * n_atoms, 1),
        "timings_s": timings,
    }
    maps = maps_from_estimates(
        batch, dictionary.t1_ms[index_np], dictionary.t2_ms[index_np], pd, extra, provenance
    )
    progress(1000, 1000, f"matched {n_voxels:,} voxels")
    return maps, batch, result


# Grouping the paper's 113,781 atoms into 200 groups (k-means, ~3 s of CPU) costs about
# as much as dense matching of ~13,000 voxels, and the pruned search is ~10× faster than
# the dense one; the grouping is cached on disk, so later runs on the dictionary gain
# too.  Below this many voxels an uncached grouping is not worth making.
_GROUPING_PAYS_OFF_VOXELS = 5000


@INFERENCE.register("dm", label="Dictionary matching", options=DMOptions)
class DictionaryMatching:
    """Exhaustive dictionary matching on the compressed dictionary: T1, T2 (and B1) of the
    best-correlated atom, PD from its scaling, and the match correlation per voxel."""

    def run(self, inputs: InferenceInputs, options: DMOptions, progress: Progress):
        from mrfcore.device import select_device
        from mrfcore.inference.grouping import atom_groups
        from mrfcore.inference.matching import match_dense, match_grouped
        from mrfcore.resources import cache_dir

        device = select_device(inputs.device)
        folder = cache_dir() / "matching"

        def factory(dictionary: Dictionary, batch: VoxelBatch, stage: Progress):
            groups = None
            if options.search == "pruned" or (options.search == "auto" and device.type == "cpu"):
                # auto: group the atoms only when that pays for itself (or is cached).
                build = options.search == "pruned" or (
                    batch.n_voxels >= _GROUPING_PAYS_OFF_VOXELS
                )
                groups = atom_groups(dictionary, options.n_groups, folder, stage, build=build)
            if groups is None:
                return (lambda x, atoms, p: match_dense(x, atoms, p)), {"search": "dense"}
            details = {"search": "pruned (branch and bound over atom groups)",
                       "grouping": groups.method}
            return (lambda x, atoms, p: match_grouped(x, atoms, groups, None, p)), details

        method = {"method": "dm", "method_label": "Dictionary matching",
                  "options": options_to_dict(options)}
        maps, _, _ = run_matching(inputs, options.mask_threshold, options.mask_method,
                                  factory, method, progress)
        return maps
