"""Fast group matching (FGM), after Cauley et al. 2015 ("Fast group matching for MR
fingerprinting reconstruction", Magn Reson Med 74:523–528).

The atoms are grouped once per dictionary (100 groups by default, as in the paper) by
phase-invariant spherical k-means on the normalised compressed atoms; each group's
representative is the unit vector closest to all its atoms.  A voxel is compared with
the representatives first, then matched exhaustively inside the k groups whose
representatives correlate best with it (k = "groups searched"; groups that provably
cannot hold a better atom are skipped).  With k equal to the number of groups the
result is exhaustive DM.

The grouping is cached in memory and on disk (in the user's cache folder, keyed by a
hash of the atoms), so only the first run on a dictionary pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mrfcore.inference.common import MASK_METHODS
from mrfcore.inference.dm import run_matching
from mrfcore.methods import INFERENCE, InferenceInputs, option, options_to_dict
from mrfcore.progress import Progress

__all__ = ["FastGroupMatching", "FGMOptions"]


@dataclass
class FGMOptions:
    mask_threshold: float = option(
        0.05, label="Background threshold", unit="× max signal", minimum=0.0, maximum=1.0,
        help="voxels whose signal norm is below this fraction of the brightest voxel's "
        "are left out (NaN in the maps)",
    )
    n_groups: int = option(
        100, label="Atom groups", minimum=1, maximum=100000,
        help="groups of similar atoms (100 in Cauley et al. 2015); computed once per "
        "dictionary and cached",
    )
    groups_searched: int = option(
        2, label="Groups searched", minimum=1, maximum=100000,
        help="groups matched exhaustively per voxel, best representatives first; more is "
        "slower and closer to exhaustive DM",
    )
    mask_method: str = option(
        "relative", label="Background mask", choices=MASK_METHODS, advanced=True,
        help="relative: the threshold above; otsu: Otsu's level of the signal histogram",
    )
    check_exhaustive: bool = option(
        False, label="Compare with exhaustive DM", advanced=True,
        help="also run exhaustive matching and record the fraction of voxels whose atom "
        "is the same (provenance 'agreement_with_dm')",
    )


@INFERENCE.register("fgm", label="Fast group matching", options=FGMOptions)
class FastGroupMatching:
    """Fast group matching (Cauley et al. 2015): voxels matched against group
    representatives first, then inside the best few groups of atoms only."""

    def run(self, inputs: InferenceInputs, options: FGMOptions, progress: Progress):
        from mrfcore.inference.grouping import atom_groups
        from mrfcore.inference.matching import match_grouped
        from mrfcore.resources import cache_dir

        groups_holder = {}

        def factory(dictionary, batch, stage: Progress):
            groups = atom_groups(dictionary, options.n_groups, cache_dir() / "matching", stage)
            groups_holder["groups"] = groups
            searched = min(options.groups_searched, groups.n_groups)
            details = {"search": f"fast group matching, {searched} of {groups.n_groups} "
                                 "groups per voxel", "grouping": groups.method}
            return (
                lambda x, atoms, p: match_grouped(x, atoms, groups, searched, p)
            ), details

        method = {"method": "fgm", "method_label": "Fast group matching",
                  "options": options_to_dict(options)}
        stop = 0.8 if options.check_exhaustive else 1.0
        maps, batch, result = run_matching(
            inputs, options.mask_threshold, options.mask_method, factory, method,
            progress.stage(0.0, stop),
        )
        if options.check_exhaustive:
            from mrfcore.inference.dm import device_atoms

            atoms = device_atoms(inputs.dictionary, batch.device)["normalised"]
            exhaustive = match_grouped(batch.signals, atoms, groups_holder["groups"], None,
                                       progress.stage(stop, 1.0, "exhaustive check"))
            same = (exhaustive.indices == result.indices).float().mean()
            maps.provenance["agreement_with_dm"] = float(same) if batch.n_voxels else 1.0
        return maps
