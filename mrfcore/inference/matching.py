"""Matching kernels shared by dictionary matching (DM) and fast group matching (FGM).

Everything works on *normalised* atoms ``d̂_j = atoms[j] / norms[j]`` and normalised
voxels ``x̂ = x / ||x||``: a score is the match correlation ``ρ_j = |d̂_j^H x̂|`` in
[0, 1], and the best atom ``argmax_j ρ_j`` is the atom maximising
``|<x, d_j>| / ||d_j||``.

Arithmetic
----------
Complex inner products are done in real arithmetic.  A voxel is the real row
``[xr, xi]`` (2s values); an atom the two real columns ``[dr; di]`` and ``[-di; dr]``,
so one real product gives ``Re`` and ``Im`` of ``d̂^H x̂`` and ``ρ² = Re² + Im²``.  When
every atom is real up to one global phase — FISP schedules with zero RF phase, whose
SVD basis is real — an atom is one real column ``r_j`` and ``ρ² = (r·xr)² + (r·xi)²``:
half the multiply-adds.  Scores are computed in chunks of ~2^20 voxel-atom pairs that
stay in the CPU cache, squared and summed in place, and reduced by a two-level maximum
(maximum of 32-atom sub-blocks, then the arg-maximum inside the winning sub-block),
which is ~5× cheaper than ``torch.max`` with indices over the whole row.

Search
------
- :func:`match_dense`: every voxel against every atom, block by block, with a running
  maximum per voxel; the voxels × atoms score matrix never exists at once.
- :func:`match_grouped` with ``groups_searched=None``: branch and bound over the groups
  of :class:`~mrfcore.inference.grouping.AtomGroups`.  The angle ``arccos |<u, v>|``
  between the lines through two unit vectors is a metric (Fubini–Study), so with
  ``α_g = arccos |<c_g, x̂>|`` and group radius ``β_g``, every atom of group g has
  ``ρ_j ≤ cos(max(α_g − β_g, 0))``.  Each voxel searches its groups in decreasing order
  of centre correlation and skips every group whose bound is below the best
  correlation found, which cannot change the result.  Bounds are inflated by a margin
  covering float32 round-off, so the result equals the dense search's up to float32
  rounding: only atoms whose correlations agree to ~1e-6 can be swapped.
- :func:`match_grouped` with ``groups_searched=k``: fast group matching, only the k
  groups whose centres correlate best with the voxel (fewer when the bound proves the
  rest cannot win); with a ``margin``, the group of the best centre and the neighbours
  whose boundary with it passes near the voxel (1–2 groups for most voxels).  All the
  (voxel, group) pairs are then known at once and each group's atoms are scored in one
  product over all the voxels that search it.

Threads
-------
On a CPU the work is split into pieces run on ``torch.get_num_threads()`` Python
threads with one intra-op thread each (:mod:`mrfcore.inference.parallel`), not spread
over OpenMP threads operation by operation.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mrfcore.inference.grouping import AtomGroups
from mrfcore.inference.parallel import PIECES_PER_THREAD, cpu_workers, in_parallel, torch_threads
from mrfcore.progress import Progress

if TYPE_CHECKING:
    import torch

__all__ = [
    "MatchResult",
    "match_dense",
    "match_grouped",
    "normalised_voxels",
]

# Round-off margin for float32 correlations of unit vectors in a few dozen dimensions
# (each inner product errs by ≲ 2s · 6e-8) plus the imaginary parts dropped from
# "real" atoms (≤ _REAL_TOLERANCE); bounds are inflated by it.
_ROUND_OFF = 2e-5
_REAL_TOLERANCE = 2e-6
"""Atoms whose imaginary parts (after removing one global phase) have norm ≤ this, for
unit atoms, are treated as real.  EPG FISP atoms with a real basis measure ~7e-7."""
_SUB_BLOCK = 32
"""Atoms per sub-block of the two-level maximum; blocks are padded to a multiple."""


@dataclass
class MatchResult:
    """The best atom of each voxel.

    Attributes
    ----------
    indices
        int64 (V,): atom index into the dictionary.
    correlation
        float32 (V,): ``|<x, d>| / (||x|| ||d||)`` of that atom, in [0, 1].
    pairs_scored
        Voxel × atom scores computed (the work done): V × N for the dense search,
        plus V × G centre scores for grouped searches.
    """

    indices: torch.Tensor
    correlation: torch.Tensor
    pairs_scored: int


def normalised_voxels(signals: torch.Tensor) -> torch.Tensor:
    """Real rows ``[Re x̂, Im x̂]`` (V, 2s) of unit-norm voxels (zero voxels stay zero)."""
    import torch

    rows = torch.cat([signals.real, signals.imag], dim=1).to(torch.float32)
    norms = torch.linalg.vector_norm(rows, dim=1, keepdim=True)
    return rows / torch.where(norms > 0, norms, 1.0)


def _real_form(atoms: torch.Tensor) -> torch.Tensor | None:
    """The real atoms ``r_j`` with ``atoms = e^{iφ} r`` for one global φ, or ``None``."""
    import torch

    total = (atoms.to(torch.complex128) ** 2).sum()
    phase = torch.exp(-0.5j * torch.angle(total)).to(atoms.dtype)
    rotated = atoms * phase
    if atoms.numel() and float(torch.linalg.vector_norm(rotated.imag, dim=1).max()) > (
        _REAL_TOLERANCE
    ):
        return None
    return rotated.real.contiguous()


class _AtomTable:
    """Normalised atoms laid out for scoring, as consecutive blocks (groups).

    Block b holds atoms ``order[starts[b]:starts[b+1]]`` as one contiguous tensor of
    columns, padded with zero atoms to a multiple of the sub-block size; a zero atom
    scores 0 and never wins over a real one (ties go to the first column).  Real atoms:
    (s, width), column j is r_j.  Complex atoms: (2s, 2 width), the ``[dr; di]`` columns
    of the block's atoms, then their ``[-di; dr]`` columns.
    """

    def __init__(self, atoms: torch.Tensor, order: torch.Tensor | None, starts: list[int]):
        import torch

        sorted_atoms = atoms if order is None else atoms[order]
        real = _real_form(sorted_atoms)
        self.is_real = real is not None
        self.starts = starts
        self.sizes = [stop - start for start, stop in zip(starts[:-1], starts[1:], strict=True)]
        self.padded = [_SUB_BLOCK * math.ceil(max(n, 1) / _SUB_BLOCK) for n in self.sizes]
        s = atoms.shape[1]
        self.blocks: list[torch.Tensor] = []
        for start, size, width in zip(starts[:-1], self.sizes, self.padded, strict=True):
            if self.is_real:
                block = torch.zeros(s, width, device=atoms.device)
                block[:, :size] = real[start : start + size].T
            else:
                d = sorted_atoms[start : start + size]
                block = torch.zeros(2 * s, 2 * width, device=atoms.device)
                block[:s, :size] = d.real.T
                block[s:, :size] = d.imag.T
                block[:s, width : width + size] = -d.imag.T
                block[s:, width : width + size] = d.real.T
            self.blocks.append(block)


def _chunk_pairs(device: torch.device) -> int:
    # CPU: chunks of 2^20 voxel-atom scores (4–8 MB) stay in the L3 cache while they
    # are squared, summed and reduced: ~3× faster than one product streaming through
    # memory, and 10 % faster than 2^18 or 2^21 (and fewer, longer operations share the
    # GIL better between threads; measured on a 2-core EPYC, 32 MB L3).  GPUs want big
    # launches.
    return 1 << 20 if device.type == "cpu" else 1 << 26


class _Scorer:
    """Best atom of one block, per voxel, in cache-sized chunks with one reused buffer."""

    def __init__(self, table: _AtomTable, device: torch.device) -> None:
        import torch

        self.table = table
        self.chunk_pairs = _chunk_pairs(device)
        self.work = torch.empty(2 * self.chunk_pairs, device=device)

    def best(
        self,
        voxel_rows: torch.Tensor,
        block: int,
        values: torch.Tensor | None = None,
        index: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(ρ² maxima (v,), argmax (v,) within the block) for voxels ``voxel_rows`` (v, 2s),
        a contiguous tensor, written to ``values`` and ``index`` when given (contiguous).
        With ``index`` given, the argmax is the table position (block start added)."""
        import torch

        table = self.table
        columns = table.blocks[block]
        width, size = table.padded[block], table.sizes[block]
        n_voxels, s = voxel_rows.shape[0], voxel_rows.shape[1] // 2
        device = voxel_rows.device
        offset = 0 if index is None else table.starts[block]
        if values is None:
            values = torch.empty(n_voxels, device=device)
        if index is None:
            index = torch.empty(n_voxels, dtype=torch.int64, device=device)
        chunk = max(1, self.chunk_pairs // width)
        if 2 * chunk * width > self.work.numel():
            self.work = torch.empty(2 * chunk * width, device=device)
        # Every operand of a product with out= must be contiguous: torch takes a path
        # thousands of times slower for strided operands with out= (measured, torch 2.13).
        for start in range(0, n_voxels, chunk):
            stop = min(start + chunk, n_voxels)
            count = stop - start
            scores = self.work[: 2 * count * width]
            if table.is_real:
                # Rows (xr_0, xi_0, xr_1, xi_1 ...) against the real columns.
                pairs = scores.view(2 * count, width)
                torch.matmul(voxel_rows[start:stop].view(2 * count, s), columns, out=pairs)
                interleaved = pairs.view(count, 2, width)
                real, imaginary = interleaved[:, 0], interleaved[:, 1]
            else:
                both = scores.view(count, 2 * width)
                torch.matmul(voxel_rows[start:stop], columns, out=both)
                real, imaginary = both[:, :width], both[:, width:]
            real.square_().addcmul_(imaginary, imaginary)
            # Two-level arg-maximum: the best 32-atom sub-block, then the best inside it.
            sub_blocks = real.unflatten(1, (width // _SUB_BLOCK, _SUB_BLOCK))
            block_max = sub_blocks.amax(dim=2)
            torch.max(block_max, dim=1, out=(values[start:stop], index[start:stop]))
            chosen = sub_blocks.gather(1, index[start:stop, None, None].expand(-1, 1, _SUB_BLOCK))
            inside = chosen[:, 0].argmax(dim=1)
            index[start:stop] = index[start:stop] * _SUB_BLOCK + inside
        # Padding wins only when every score is 0 (or NaN): any atom is then as good.
        index.clamp_(max=max(size - 1, 0))
        return values, index if offset == 0 else index.add_(offset)


def match_dense(
    signals: torch.Tensor,
    normalised_atoms: torch.Tensor,
    progress: Progress | None = None,
    block_voxels: int = 0,
    block_atoms: int = 0,
) -> MatchResult:
    """Exhaustive matching, every voxel against every atom, in blocks.

    Parameters
    ----------
    signals
        complex64 (V, s) voxels.
    normalised_atoms
        complex64 (N, s) unit-norm atoms, on the same device.
    progress
        Called once per block.
    block_voxels, block_atoms
        Block sizes (0: on a CPU, a share of the voxels per piece of work of
        :func:`~mrfcore.inference.parallel.in_parallel`, else all voxels at once; 4096
        atoms on a CPU, 65536 on a GPU).  The scores are computed in cache-sized chunks
        inside a block; neither changes the result.
    """
    import torch

    progress = progress or Progress()
    device = signals.device
    n_voxels, n_atoms = signals.shape[0], normalised_atoms.shape[0]
    workers = cpu_workers(device)
    pieces = PIECES_PER_THREAD * workers if workers > 1 else 1
    block_voxels = int(block_voxels) or max(math.ceil(n_voxels / pieces), 1)
    block_atoms = int(block_atoms) or (4096 if device.type == "cpu" else 65536)
    starts = [*range(0, n_atoms, block_atoms), n_atoms]
    table = _AtomTable(normalised_atoms.to(device), None, starts)
    voxels = normalised_voxels(signals).contiguous()
    best = torch.full((n_voxels,), -1.0, device=device)
    best_index = torch.zeros(n_voxels, dtype=torch.int64, device=device)
    voxel_starts = range(0, n_voxels, block_voxels)
    n_blocks = len(starts) - 1
    total = len(voxel_starts) * n_blocks
    message = f"matching {n_voxels:,} voxels with {n_atoms:,} atoms"

    def match_block(voxel_block: int, in_caller: bool) -> None:
        scorer = _Scorer(table, device)
        part = slice(voxel_starts[voxel_block], voxel_starts[voxel_block] + block_voxels)
        for block in range(n_blocks):
            if in_caller:
                progress(voxel_block * n_blocks + block, total, message)
            values, index = scorer.best(voxels[part], block)
            current = best[part]
            better = values > current
            best[part] = torch.where(better, values, current)
            best_index[part] = torch.where(better, index + starts[block], best_index[part])

    with torch_threads(1) if workers > 1 else nullcontext():
        in_parallel([(lambda in_caller, b=b: match_block(b, in_caller))
                     for b in range(len(voxel_starts))], workers)
    progress(total, total, f"matched {n_voxels:,} voxels")
    return MatchResult(best_index, best.clamp(0.0, 1.0).sqrt(), n_voxels * n_atoms)


# --------------------------------------------------------------- grouped matching


@dataclass
class _GroupLayout:
    """An :class:`AtomGroups` laid out on a device for matching."""

    table: _AtomTable
    order: torch.Tensor  # (N,) int64: table position → dictionary index
    centre_columns: torch.Tensor  # (2s, 2G): real columns [Re | Im] of the centres
    cos_radius: torch.Tensor  # (G,) float32, radius inflated for round-off
    sin_radius: torch.Tensor  # (G,) float32
    centre_separation: torch.Tensor  # (G, G) float32: sin of the angle between centres


_LAYOUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _layout(normalised_atoms: torch.Tensor, groups: AtomGroups) -> _GroupLayout:
    """The groups on the atoms' device (cached per grouping and device)."""
    import torch

    per_groups = _LAYOUTS.setdefault(groups, {})
    device = normalised_atoms.device
    if str(device) in per_groups:
        return per_groups[str(device)]
    order = torch.from_numpy(np.asarray(groups.order, dtype=np.int64)).to(device)
    table = _AtomTable(normalised_atoms, order, [int(v) for v in groups.starts])
    # The centre-atom correlations defining the radius carry float32 round-off as well.
    radius = np.minimum(np.asarray(groups.radius_rad) + math.sqrt(2 * _ROUND_OFF), math.pi / 2)
    centres = torch.from_numpy(np.asarray(groups.centres, dtype=np.complex64)).to(device)
    centre_columns = torch.cat(
        [torch.cat([centres.real, centres.imag], dim=1).T,
         torch.cat([-centres.imag, centres.real], dim=1).T], dim=1
    ).contiguous()
    overlap = np.abs(np.asarray(groups.centres, dtype=np.complex128).conj()
                     @ np.asarray(groups.centres, dtype=np.complex128).T) ** 2
    separation = np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0)).astype(np.float32)
    layout = _GroupLayout(
        table=table,
        order=order,
        centre_columns=centre_columns,
        cos_radius=torch.from_numpy(np.cos(radius).astype(np.float32)).to(device),
        sin_radius=torch.from_numpy(np.sin(radius).astype(np.float32)).to(device),
        centre_separation=torch.from_numpy(separation).to(device),
    )
    per_groups[str(device)] = layout
    return layout


def _centre_correlations(voxels: torch.Tensor, layout: _GroupLayout) -> torch.Tensor:
    """(V, G) float32: ``|<c_g, x̂>|`` for every voxel and group centre."""
    n_groups = layout.cos_radius.shape[0]
    scores = voxels @ layout.centre_columns
    return scores[:, :n_groups].square_().add_(scores[:, n_groups:].square_()).sqrt_()


def _squared_bounds(centre: torch.Tensor, layout: _GroupLayout) -> torch.Tensor:
    """(V, G) float32 upper bounds of ρ² over each group's atoms,
    ``cos²(max(α_g − β_g, 0))`` with ``cos α_g = centre``, inflated for round-off."""
    # Inflating |<c, x̂>| (clamped to 1) can only raise the bound: cos(α − β) grows as α
    # shrinks towards β.
    cos_alpha = (centre + _ROUND_OFF).clamp_(max=1.0)
    sin_alpha = (1.0 - cos_alpha.square()).clamp_(min=0.0).sqrt_()
    inside = cos_alpha >= layout.cos_radius  # α ≤ β: the voxel may sit on an atom
    bound = cos_alpha.mul_(layout.cos_radius).addcmul_(sin_alpha, layout.sin_radius)
    bound.masked_fill_(inside, 1.0).add_(_ROUND_OFF).clamp_(max=1.0)
    return bound.square_()


def _top_groups(centre: torch.Tensor, count: int) -> torch.Tensor:
    """(V, count) int64: the groups of highest centre correlation, best first."""
    import torch

    if count > 4:
        return torch.topk(centre, count, dim=1, sorted=True).indices
    # A few passes of max are ~3× faster than topk for the usual 1–4 groups.
    remaining = centre.clone() if count > 1 else centre
    columns = []
    for rank in range(count):
        best = remaining.argmax(dim=1)
        columns.append(best)
        if rank + 1 < count:
            remaining.scatter_(1, best[:, None], -1.0)
    return torch.stack(columns, dim=1)


# Ranks searched one round at a time, in order of centre correlation |<c_g, x̂>| (the
# group holding the best atom is the top one for ~97 % of noisy voxels on the paper
# grid and among the top two for > 99.8 %; ordering by the bound instead does much
# worse, as it favours wide groups).  The exhaustive search then takes, in one last
# round, every remaining group whose bound still beats the voxel's best.
_RANKED_ROUNDS = ((0, 1), (1, 2), (2, 4))


def _rounds(n_groups: int, limit: int, exhaustive: bool) -> tuple[int, list[tuple[int, int]]]:
    ranked = min(limit, _RANKED_ROUNDS[-1][1]) if exhaustive else limit
    rounds = [(a, min(b, ranked)) for a, b in _RANKED_ROUNDS if a < ranked]
    width = 4
    while rounds[-1][1] < ranked:  # FGM with many groups: doubling rounds
        rounds.append((rounds[-1][1], min(rounds[-1][1] + width, ranked)))
        width *= 2
    if exhaustive and ranked < n_groups:
        rounds.append((ranked, n_groups))
    return ranked, rounds


def _score_pairs(
    voxels: torch.Tensor,
    voxel_ids: torch.Tensor,
    group_ids: torch.Tensor,
    table: _AtomTable,
    workers: int,
    report: Callable[[int, int], None],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """The best atom of group ``group_ids[p]`` for voxel ``voxel_ids[p]``, every pair p.

    Pairs are sorted by group, so each group's atoms are scored once, in one product
    over all the voxels that search it; the work goes in pieces of equal cost (a piece
    may end inside a group) on ``workers`` threads.  ``report(done, total)`` is called
    per group from the calling thread.

    Returns (voxel (P,), ρ² (P,), table position (P,), voxel-atom pairs scored), the
    pairs in the sorted order.
    """
    import torch

    device = voxels.device
    order = torch.argsort(group_ids)
    voxel_ids, group_ids = voxel_ids[order], group_ids[order]
    present, counts = torch.unique_consecutive(group_ids, return_counts=True)
    groups = present.tolist()
    counts = counts.cpu().numpy()
    ends = np.cumsum(counts)
    rows = voxels[voxel_ids]  # one gather: each group's voxels are a contiguous slice
    values = torch.empty(voxel_ids.shape[0], device=device)
    positions = torch.empty(voxel_ids.shape[0], dtype=torch.int64, device=device)
    pieces = PIECES_PER_THREAD * workers if workers > 1 else 1
    cost = np.cumsum(counts * np.asarray(table.padded)[groups])
    cuts = np.searchsorted(cost, cost[-1] * np.arange(1, pieces) / pieces) if groups else []
    pair_cuts = [0, *(int(ends[c]) for c in cuts), len(voxel_ids)]

    def score(first: int, stop: int, in_caller: bool) -> None:
        scorer = _Scorer(table, device)
        for position in range(int(np.searchsorted(ends, first, side="right")), len(groups)):
            a = max(first, int(ends[position - 1]) if position else 0)
            b = min(stop, int(ends[position]))
            if a >= b:
                break
            if in_caller:
                report(position, len(groups))
            scorer.best(rows[a:b], groups[position], values[a:b], positions[a:b])

    in_parallel([(lambda in_caller, a=a, b=b: score(a, b, in_caller))
                 for a, b in zip(pair_cuts[:-1], pair_cuts[1:], strict=True)], workers)
    scored = int(counts @ np.asarray(table.sizes, dtype=np.int64)[groups]) if groups else 0
    return voxel_ids, values, positions, scored


def _keep_better(
    best: torch.Tensor,
    best_position: torch.Tensor,
    voxel_ids: torch.Tensor,
    values: torch.Tensor,
    positions: torch.Tensor,
) -> None:
    """Update each voxel's best (ρ² (V,), table position (V,)) in place with the pairs
    (voxel, ρ², position) that beat it (among equal ones, any)."""
    import torch

    pair_best = torch.full_like(best, -1.0).scatter_reduce_(0, voxel_ids, values, "amax")
    winner = (values == pair_best[voxel_ids]) & (values > best[voxel_ids])
    best_position[voxel_ids[winner]] = positions[winner]
    torch.maximum(best, pair_best, out=best)


def _match_in_rounds(
    voxels: torch.Tensor,
    layout: _GroupLayout,
    limit: int,
    exhaustive: bool,
    workers: int,
    progress: Progress,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Branch and bound (``exhaustive``), or the ``limit`` groups of best centres per
    voxel, in rounds of ranks (:data:`_RANKED_ROUNDS`), skipping groups whose bound is
    below the voxel's best so far.  Returns (best ρ² (V,), best table position (V,),
    voxel-atom pairs scored)."""
    import torch

    device = voxels.device
    n_voxels, n_groups = voxels.shape[0], layout.cos_radius.shape[0]
    centre = _centre_correlations(voxels, layout)
    ranked, rounds = _rounds(n_groups, limit, exhaustive)
    top_groups = _top_groups(centre, ranked)
    # Rank 0 is searched whatever its bound; FGM with one group needs no bounds at all.
    bounds = _squared_bounds(centre, layout) if len(rounds) > 1 else None
    top_bounds = None if bounds is None else bounds.gather(1, top_groups)
    del centre
    best = torch.full((n_voxels,), -1.0, device=device)
    best_position = torch.zeros(n_voxels, dtype=torch.int64, device=device)
    pairs = n_voxels * n_groups
    total = len(rounds) * n_groups
    for round_number, (rank_start, rank_stop) in enumerate(rounds):
        if rank_start == 0:
            voxel_ids = torch.arange(n_voxels, device=device)
            group_ids = top_groups[:, 0]
        elif rank_start < ranked:
            candidates = top_bounds[:, rank_start:rank_stop] >= best[:, None]
            voxel_ids, rank_ids = torch.nonzero(candidates, as_tuple=True)
            group_ids = top_groups[voxel_ids, rank_ids + rank_start]
        else:
            candidates = bounds >= best[:, None]
            candidates.scatter_(1, top_groups, False)  # searched already
            voxel_ids, group_ids = torch.nonzero(candidates, as_tuple=True)
        if voxel_ids.numel() == 0:
            break
        message = f"matching {n_voxels:,} voxels, round {round_number + 1} of ≤ {len(rounds)}"
        voxel_ids, values, positions, scored = _score_pairs(
            voxels, voxel_ids, group_ids, layout.table, workers,
            lambda done, _, r=round_number, m=message: progress(r * n_groups + done, total, m),
        )
        pairs += scored
        _keep_better(best, best_position, voxel_ids, values, positions)
    progress(total, total, f"matched {n_voxels:,} voxels")
    return best, best_position, pairs


def match_grouped(
    signals: torch.Tensor,
    normalised_atoms: torch.Tensor,
    groups: AtomGroups,
    groups_searched: int | None = None,
    progress: Progress | None = None,
    margin: float | None = None,
) -> MatchResult:
    """Match voxels against groups of atoms: exhaustively by branch and bound, or by fast
    group matching (FGM).

    Parameters
    ----------
    signals
        complex64 (V, s) voxels.
    normalised_atoms
        complex64 (N, s) unit-norm atoms in dictionary order, on the voxels' device.
    groups
        A grouping of those atoms.
    groups_searched
        ``None``: exhaustive (branch and bound; the atoms of :func:`match_dense`).
        k: FGM, at most the k groups per voxel whose centres correlate best with it.
    progress
        Called once per group per round.
    margin
        FGM only.  ``None``: the k groups of best centres, fewer when the bound proves
        the others cannot win.  An angle (rad): the group of the best centre and those
        whose boundary with it lies within ``margin`` of the voxel, at most k (see
        :func:`~mrfcore.inference.fgm_search.candidate_groups`; ≥ π/4: the k best
        groups, without bounds).

    Notes
    -----
    On a CPU the work runs on ``torch.get_num_threads()`` threads, in pieces, with one
    intra-op thread each (see :mod:`mrfcore.inference.parallel`).
    """
    progress = progress or Progress()
    device = signals.device
    layout = _layout(normalised_atoms, groups)
    n_groups = groups.n_groups
    exhaustive = groups_searched is None
    limit = n_groups if exhaustive else int(min(max(groups_searched, 1), n_groups))
    voxels = normalised_voxels(signals)
    workers = cpu_workers(device)
    with torch_threads(1) if workers > 1 else nullcontext():
        if exhaustive or margin is None:
            best, position, pairs = _match_in_rounds(voxels, layout, limit, exhaustive,
                                                     workers, progress)
        else:
            from mrfcore.inference.fgm_search import match_within_margin

            best, position, pairs = match_within_margin(voxels, layout, limit,
                                                        float(margin), workers, progress)
    return MatchResult(layout.order[position], best.clamp(0.0, 1.0).sqrt(), pairs)
