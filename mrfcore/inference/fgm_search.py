"""Fast group matching with a boundary margin: which groups each voxel searches.

A voxel searches the group A of its best representative (group centre) and each group B
whose boundary with A passes within a small angle of it (:func:`candidate_groups`), so
most voxels search one group and voxels near a boundary two or three.  All (voxel, group)
pairs are known before any atom is scored; :func:`match_within_margin` then scores each
group once for all its voxels with the kernels of :mod:`mrfcore.inference.matching`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mrfcore.inference.matching import (
    _chunk_pairs,
    _GroupLayout,
    _keep_better,
    _score_pairs,
)
from mrfcore.inference.parallel import PIECES_PER_THREAD, in_parallel
from mrfcore.progress import Progress

if TYPE_CHECKING:
    import torch

__all__ = ["candidate_groups", "match_within_margin"]


def candidate_groups(
    voxels: torch.Tensor, layout: _GroupLayout, limit: int, margin: float, offset: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The groups each voxel searches: the group A of its best centre, and each group B
    whose boundary with A is within ``margin`` (an angle, rad) of the voxel, at most
    ``limit`` of them (those of best centres).

    With centres a, b at angle θ and x̂ at angle φ from their bisector (towards a),
    ``|<a, x̂>|² - |<b, x̂>|² = sin 2φ · sin θ`` (for x̂ in the plane of a and b; else
    smaller by ``|P x̂|²``, P the projection onto that plane), so B is searched when
    ``|<a, x̂>|² - |<b, x̂>|² ≤ sin(2 margin) · sin θ``: a distance to the boundary,
    where a margin on the correlations themselves would mean a narrower band between
    large groups than between small ones.  (Coarse groups still want a wider margin:
    their centres lie farther off the curved set of atoms, so noise off that set moves a
    voxel across the centres' boundary more easily.)

    Returns (voxel (P,), group (P,)) int64 pairs, every voxel at least once; voxel
    numbers start at ``offset``.  Voxels go in cache-sized chunks, so the (V, G) centre
    correlations never exist at once; a threshold and ``nonzero`` cost a third of
    ``topk`` here.
    """
    import torch

    n_voxels, n_groups = voxels.shape[0], layout.cos_radius.shape[0]
    device = voxels.device
    if n_voxels == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return empty, empty.clone()
    window = math.sin(2 * min(margin, math.pi / 4))
    chunk = max(1, _chunk_pairs(device) // (2 * n_groups))
    work = torch.empty(min(chunk, max(n_voxels, 1)) * 2 * n_groups, device=device)
    best_group = torch.empty(min(chunk, max(n_voxels, 1)), dtype=torch.int64, device=device)
    found_voxels, found_groups = [], []
    for start in range(0, n_voxels, chunk):
        stop = min(start + chunk, n_voxels)
        scores = work[: (stop - start) * 2 * n_groups].view(stop - start, 2 * n_groups)
        torch.matmul(voxels[start:stop], layout.centre_columns, out=scores)
        squared = scores[:, :n_groups].square_().add_(scores[:, n_groups:].square_())
        if window >= 1.0:  # every group passes: the `limit` best ones
            top = torch.topk(squared, limit, dim=1).indices
            found_voxels.append(torch.arange(start, stop, device=device).repeat_interleave(limit))
            found_groups.append(top.flatten())
            continue
        best = squared.amax(dim=1)
        # sin θ ≤ 1: these pairs include every one that passes.
        rows, groups = torch.nonzero(squared >= (best - window)[:, None], as_tuple=True)
        gap = best[rows] - squared[rows, groups]
        is_best = gap == 0
        best_group[rows[is_best]] = groups[is_best]  # among equal centres, any
        keep = gap <= window * layout.centre_separation[best_group[rows], groups]
        found_voxels.append(rows[keep].add_(start))
        found_groups.append(groups[keep])
    voxel_ids, group_ids = torch.cat(found_voxels), torch.cat(found_groups)
    counts = torch.bincount(voxel_ids, minlength=n_voxels)
    if n_voxels and int(counts.max()) > limit:
        voxel_ids, group_ids = _keep_best(voxels, layout, voxel_ids, group_ids,
                                          counts > limit, limit)
    missing = torch.nonzero(counts == 0).flatten()  # NaN voxels: any group will do
    if missing.numel():
        voxel_ids = torch.cat([voxel_ids, missing])
        group_ids = torch.cat([group_ids, torch.zeros_like(missing)])
    return voxel_ids.add_(offset), group_ids


def _keep_best(
    voxels: torch.Tensor,
    layout: _GroupLayout,
    voxel_ids: torch.Tensor,
    group_ids: torch.Tensor,
    too_many: torch.Tensor,
    limit: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut the candidate groups of the voxels flagged in ``too_many`` (V,) bool to their
    ``limit`` groups of highest centre correlation (few voxels: scored pair by pair)."""
    import torch

    n_groups = layout.cos_radius.shape[0]
    over = too_many[voxel_ids]
    kept_voxels, kept_groups = voxel_ids[~over], group_ids[~over]
    voxel_ids, group_ids = voxel_ids[over], group_ids[over]
    rows = voxels[voxel_ids]
    real = (rows * layout.centre_columns[:, group_ids].T).sum(dim=1)
    imaginary = (rows * layout.centre_columns[:, group_ids + n_groups].T).sum(dim=1)
    order = torch.argsort(real.square_().add_(imaginary.square_()), descending=True, stable=True)
    order = order[torch.argsort(voxel_ids[order], stable=True)]  # by voxel, best first
    voxel_ids, group_ids = voxel_ids[order], group_ids[order]
    _, counts = torch.unique_consecutive(voxel_ids, return_counts=True)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    keep = torch.arange(voxel_ids.shape[0], device=voxels.device) - first < limit
    return torch.cat([kept_voxels, voxel_ids[keep]]), torch.cat([kept_groups, group_ids[keep]])


def match_within_margin(
    voxels: torch.Tensor,
    layout: _GroupLayout,
    limit: int,
    margin: float,
    workers: int,
    progress: Progress,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Fast group matching with an adaptive number of groups per voxel (the groups of
    :func:`candidate_groups`).  Returns (best ρ² (V,), best table position (V,),
    voxel-atom pairs scored)."""
    import torch

    device = voxels.device
    n_voxels, n_groups = voxels.shape[0], layout.cos_radius.shape[0]
    pieces = PIECES_PER_THREAD * workers if workers > 1 else 1
    cuts = [n_voxels * i // pieces for i in range(pieces + 1)]
    found = in_parallel([
        (lambda _, a=a, b=b: candidate_groups(voxels[a:b], layout, limit, margin, a))
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ], workers)
    voxel_ids = torch.cat([pairs[0] for pairs in found])
    group_ids = torch.cat([pairs[1] for pairs in found])
    message = f"matching {n_voxels:,} voxels"
    voxel_ids, values, positions, scored = _score_pairs(
        voxels, voxel_ids, group_ids, layout.table, workers,
        lambda done, total: progress(done, total, message),
    )
    best = torch.full((n_voxels,), -1.0, device=device)
    best_position = torch.zeros(n_voxels, dtype=torch.int64, device=device)
    _keep_better(best, best_position, voxel_ids, values, positions)
    progress(1, 1, f"matched {n_voxels:,} voxels")
    return best, best_position, n_voxels * n_groups + scored
