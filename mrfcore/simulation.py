"""Extended Phase Graph (EPG) simulation of MRF fingerprints, batched over parameters.

:func:`simulate_fingerprints` turns a :class:`~mrfcore.sequences.Sequence` and N
parameter sets (T1, T2, B1, off-resonance) into N complex fingerprints: the transverse
magnetisation at each frame's echo time, for M0 = 1.  It runs in torch on any device,
vectorised over the parameter sets, in chunks of atoms to bound memory.

Conventions
-----------
Right-handed rotations throughout, as in Weigel's EPG review (J Magn Reson Imaging
41:266, 2015) and Hargreaves' Bloch simulator: an RF pulse of flip angle α and phase φ
rotates M by +α about the transverse axis (cos φ, sin φ, 0), so a 90°, phase-0 pulse
takes M = (0, 0, 1) to Mxy = Mx + iMy = -i; free precession at ``off_resonance_hz`` = Δf
multiplies Mxy by exp(+i 2π Δf t).

Per frame n (after an optional ideal inversion Mz → -Mz and relaxation over TI):
RF (flip B1·α_n, phase φ_n) → relaxation and precession over TE_n → sample F+_0 →
relaxation and precession over TR_n - TE_n → (FISP only) one unit of gradient dephasing,
i.e. the EPG shift F+_k → F+_{k+1}, F-_k → F-_{k-1}, F+_0 = conj(F-_1).  Relaxation is
exact: exp(-t/T2) on F, exp(-t/T1) on Z with recovery 1 - exp(-t/T1) of Z_0.
Off-resonance multiplies F+ by exp(+i 2π Δf t) and F- by exp(-i 2π Δf t).  For bSSFP
there is no dephasing: the voxel is one isochromat (EPG order 0 only).  For FISP with a
constant TR, Δf only multiplies the signal by exp(i 2π Δf TE) (it relabels isochromats
spread over 2π), but with a varying TR it changes the fingerprint a little.

State truncation (FISP)
-----------------------
Only orders k < K are kept; F+ shifted past order K - 1 is dropped.  Orders k ≥ T - n
are skipped at frame n as well: they could reach F0 only after the last frame, so this
changes nothing.  With E2 = exp(-TR_min/T2) and E1 = exp(-TR_max/T1), the error of the
sampled signal (M0 = 1) obeys the rigorous but loose bound

    |error at frame m| ≤ m · E2^(2K) · (1 + m (1 - E1)).

Why: in the variables F_k / E2^k the RF is an isometry of each order's block
|F+_k|² + |F-_k|² + 2|Z_k|² (Parseval over the isochromats), a shift up costs nothing and
every other step contracts, so the state (norm ≤ 1 + m(1 - E1) with the recovery) puts
at most E2^K (1 + m(1 - E1)) into the dropped order K per frame.  In the variables
F_k · E2^k the exact dynamics is a contraction (a shift down now costs nothing), so each
dropped piece reaches F0 again reduced by a further E2^K.  For T2 = 600 ms and
TR ≈ 12 ms over 1000 frames the bound asks for K ≈ 500.

Measured instead (largest |error| against K = T over T1 = 100…4000 ms, T2 = 20…600 ms,
B1 = 0.6…1.4 on the built-in FISP schedules), the error behaves like
8e-3 · exp(-2.6 K TR/T2).  The default (``max_states=None``) therefore sorts the atoms
by T2 and gives each chunk K = ceil(2 · T2_max / TR_min) + 4 orders (107 for T2 = 600 ms
with TR_min = 11.7 ms, 8 for T2 = 20 ms, about 57 on average over the paper's grid):
measured largest |error| 2.8e-5 (at most 1.2e-4 of the fingerprint's norm) on those
schedules; tests/core/test_simulation.py checks < 1e-4.  Schedules with much larger flip
angles may need more orders: ``mrf bench epg`` prints the error for T2 = 600 ms.  The
result depends on which atoms share a chunk only through K, i.e. by less than that error.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

import numpy as np

from mrfcore.device import select_device
from mrfcore.progress import Cancelled, Progress, ProgressCallback, ensure_progress

if TYPE_CHECKING:
    import torch

    from mrfcore.sequences import Sequence

__all__ = ["adaptive_max_states", "default_chunk_size", "simulate_fingerprints"]

_PHASE_TOLERANCE_DEG = 1e-6
_FLUSH_OFFSET = 2.0**-60
_MAX_RENORM_INTERVAL = 32
_REPORT_EVERY_FRAMES = 50


def adaptive_max_states(sequence: Sequence, t2_max_ms: float) -> int:
    """EPG orders kept for FISP atoms with T2 ≤ ``t2_max_ms`` by default (see module doc)."""
    if sequence.readout != "fisp":
        return 1
    orders = math.ceil(2.0 * t2_max_ms / float(sequence.tr_ms.min())) + 4
    return int(min(orders, sequence.n_frames))


def default_chunk_size(n_states: int, device: torch.device) -> int:
    """Atoms simulated together: the state fits a core's cache on a CPU; large on a GPU."""
    if device.type != "cpu":
        return 16384
    # Two state buffers of about 3 × n_states × chunk float32 values each (fastest
    # measured at ~2048 atoms for 64 orders); few orders want larger chunks, as the
    # per-frame overhead of torch calls then dominates.
    target = 131072 / max(n_states, 1)
    return int(max(256, min(16384, 2 ** round(math.log2(target)))))


def simulate_fingerprints(
    sequence: Sequence,
    t1_ms,
    t2_ms,
    b1=None,
    off_resonance_hz=None,
    *,
    device=None,
    max_states: int | None = None,
    progress: Progress | ProgressCallback | None = None,
    chunk_size: int | None = None,
    n_threads: int | None = None,
) -> torch.Tensor:
    """Simulate fingerprints by EPG for a batch of parameter sets.

    Parameters
    ----------
    sequence
        The MRF schedule (flip angles, RF phases, TR, TE, inversion, readout kind).
    t1_ms, t2_ms
        Array-likes or tensors of shape (N,) in ms, all > 0 (or scalars).
    b1
        Shape (N,) scale of the nominal flip angles; default 1.
    off_resonance_hz
        Shape (N,) off-resonance in Hz; default 0.  For bSSFP it makes the voxel's single
        isochromat precess; for FISP it adds precession to the dephasing.
    device
        Compute device, resolved by :func:`mrfcore.device.select_device`.
    max_states
        EPG orders K kept for FISP readouts.  None: chosen per chunk of atoms from its
        largest T2 by :func:`adaptive_max_states` (error < 1e-4, see the module
        docstring for the bound and the measurements).  Ignored for bSSFP (one order).
    progress
        A :class:`~mrfcore.progress.Progress` or ``callback(step, total, message)``,
        from the calling thread at least every 0.2 s while chunks of atoms run (step
        counts atom·frames); returning False raises :class:`~mrfcore.progress.Cancelled`.
    chunk_size
        Atoms simulated together; None picks a size suited to the device.
    n_threads
        Chunks simulated side by side (CPU only), each with one torch thread; None uses
        ``torch.get_num_threads()``.  On a GPU the chunks run one after another.

    Returns
    -------
    torch.Tensor
        complex64, shape (N, T) on ``device``: transverse magnetisation Mx + iMy at each
        frame's TE, for M0 = 1.

    Raises
    ------
    ValueError
        If the parameter arrays have different lengths or invalid values.
    """
    import torch

    device = select_device(device)
    progress = ensure_progress(progress)
    t1 = _as_vector(t1_ms, "t1_ms")
    n_atoms = t1.size
    t2 = _as_vector(t2_ms, "t2_ms", n_atoms)
    b1v = np.ones(n_atoms) if b1 is None else _as_vector(b1, "b1", n_atoms)
    df = (
        np.zeros(n_atoms)
        if off_resonance_hz is None
        else _as_vector(off_resonance_hz, "off_resonance_hz", n_atoms)
    )
    for name, values in (("t1_ms", t1), ("t2_ms", t2)):
        if n_atoms and np.any(values <= 0):
            raise ValueError(f"{name} must be > 0 ms (got min {values.min():g})")
    if n_atoms and np.any(b1v < 0):
        raise ValueError(f"b1 must be ≥ 0 (got min {b1v.min():g})")
    if max_states is not None and int(max_states) < 1:
        raise ValueError(f"max_states must be ≥ 1, got {max_states}")

    n_frames = sequence.n_frames
    result = torch.empty((n_atoms, n_frames), dtype=torch.complex64, device=device)
    if n_atoms == 0:
        return result
    chunks = _plan_chunks(sequence, t2, b1v, device, max_states, chunk_size)
    real_phase = _real_phase_pattern(sequence.phase_deg)
    cpu = device.type == "cpu"
    previous_threads = torch.get_num_threads()
    if n_threads is None:
        n_threads = previous_threads if cpu else 1
    n_threads = max(1, min(int(n_threads), len(chunks)))
    total = n_atoms * n_frames
    stop = threading.Event()
    frames_done = [0] * len(chunks)

    def simulate_chunk(number: int):
        index, n_states = chunks[number]
        use_real = real_phase is not None and not np.any(df[index])
        simulator = _ChunkSimulator(
            sequence,
            t1[index],
            t2[index],
            b1v[index],
            df[index],
            n_states,
            device,
            real_phase if use_real else None,
        )

        def report(frame: int) -> None:
            if stop.is_set():
                raise Cancelled("EPG simulation stopped")
            frames_done[number] = frame * index.size
            if n_threads == 1:
                progress(sum(frames_done), total, f"EPG: chunk {number + 1} of {len(chunks)}")

        if cpu:
            # One torch thread per chunk, chunks side by side: torch's own threads would
            # meet at a barrier after every small operation, which is ~15× slower as
            # soon as anything else wants the CPU (measured).  The setting is per thread.
            torch.set_num_threads(1)
        with torch.no_grad():
            return index, simulator.run(report)

    def store(index, signal) -> None:
        result[torch.from_numpy(index).to(device)] = signal

    progress(0, total, "EPG")
    try:
        if n_threads == 1:
            for number in range(len(chunks)):
                store(*simulate_chunk(number))
        else:
            cost = [-index.size * n_states for index, n_states in chunks]
            _run_pool(
                simulate_chunk,
                np.argsort(cost, kind="stable"),
                n_threads,
                store,
                stop,
                lambda: progress(sum(frames_done), total, "EPG"),
            )
    finally:
        # Restores this thread's setting and torch's default for threads started later.
        torch.set_num_threads(previous_threads)
    progress(total, total, "EPG done")
    return result


# ---------------------------------------------------------------------------- helpers


def _run_pool(simulate_chunk, order, n_threads, store, stop, report) -> None:
    """Run the chunks on a thread pool; report progress from this thread every 0.2 s."""
    with ThreadPoolExecutor(n_threads, thread_name_prefix="epg") as pool:
        # Longest first (cost ∝ atoms × orders), so the last chunks to finish are short.
        pending = {pool.submit(simulate_chunk, number) for number in order}
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    store(*future.result())
                report()
        except BaseException:
            stop.set()  # running chunks raise Cancelled at their next report
            for future in pending:
                future.cancel()
            raise


def _plan_chunks(sequence, t2, b1, device, max_states, chunk_size):
    """[(atom indices, EPG orders)] covering all atoms.

    Sorting by B1 makes most chunks of a dictionary grid share one flip-angle scale (the
    RF is then one 3×3 matrix product for the whole chunk); sorting by T2 within a B1
    lets each chunk keep only the EPG orders its longest T2 needs.
    """
    order = np.lexsort((t2, b1))
    n_frames = sequence.n_frames
    fixed = None
    if sequence.readout != "fisp":
        fixed = 1
    elif max_states is not None:
        fixed = min(int(max_states), n_frames)
    chunks = []
    done = 0
    while done < order.size:
        if fixed is not None:
            n_states = fixed
        else:
            # The chunk size depends on K and K on the chunk's largest T2: size the chunk
            # for the K of the next few atoms, then take the K of the chunk.
            probe = order[done : done + (chunk_size or default_chunk_size(8, device))]
            n_states = adaptive_max_states(sequence, t2[probe].max())
        index = order[done : done + (chunk_size or default_chunk_size(n_states, device))]
        if fixed is None:
            n_states = adaptive_max_states(sequence, t2[index].max())
        chunks.append((index, n_states))
        done += index.size
    return chunks


def _as_vector(values, name: str, length: int | None = None) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if length is not None and array.size not in (1, length):
        raise ValueError(f"{name} has {array.size} values but t1_ms has {length}")
    if length is not None and array.size == 1:
        array = np.full(length, array[0])
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains values that are not finite")
    return array


def _real_phase_pattern(phase_deg: np.ndarray) -> tuple[float, np.ndarray] | None:
    """(φ0, ±1 per frame) when every RF phase is φ0 or φ0 + 180°, else None.

    A frame of phase φ0 + 180° is then a frame of phase φ0 with a negated flip angle,
    and once the common phase φ0 is factored out the EPG stays real: F± = i·(real),
    Z real (Weigel's RF matrix at phase 0 maps this form to itself, as do relaxation and
    the shift F+_0 = conj(F-_1)).
    """
    phi0 = float(phase_deg[0])
    half_turns = (phase_deg - phi0) / 180.0
    rounded = np.round(half_turns)
    if np.max(np.abs(half_turns - rounded)) * 180.0 > _PHASE_TOLERANCE_DEG:
        return None
    return phi0, np.where(rounded.astype(np.int64) % 2 == 0, 1.0, -1.0)


def _rf_rows(alpha, phi, real: bool) -> list[list]:
    """Weigel's RF matrix rows for (F+, F-, Z); in the real form for (a, b, z), F± = i·(a, b).

    ``alpha`` and ``phi`` (rad) are numpy arrays or torch tensors that broadcast.
    """
    xp = np if isinstance(alpha, np.ndarray) else _torch()
    c2, s2 = xp.cos(alpha / 2) ** 2, xp.sin(alpha / 2) ** 2
    sa, ca = xp.sin(alpha), xp.cos(alpha)
    if real:
        return [[c2, s2, -sa], [s2, c2, sa], [sa / 2, -sa / 2, ca]]
    e1, e2 = xp.exp(1j * phi), xp.exp(2j * phi)
    return [
        [c2 + 0j, e2 * s2, -1j * e1 * sa],
        [s2 / e2, c2 + 0j, 1j * sa / e1],
        [-0.5j * sa / e1, 0.5j * e1 * sa, ca + 0j],
    ]


def _torch():
    import torch

    return torch


# Memory order of the three state blocks: (F+, Z, F-).  The shift moves F+ one order up
# and F- one order down while Z stays, so with this order the blocks of the RF output
# and of the next frame's input are both evenly spaced, and the shift is folded into
# where the RF product is written: one matrix product per frame, no copies.
_BLOCK_ORDER = (0, 2, 1)


class _ChunkSimulator:
    """EPG of one chunk of n atoms, in two flat ping-pong buffers.

    Each buffer holds the F+, Z and F- blocks of K rows of n atoms.  The RF reads the
    blocks of one buffer as a (3, K·n) matrix with row stride ``read_stride`` and
    writes the other buffer at offsets shifted by one row for F+ and F-, so that what it
    writes is already the next frame's (shifted) input.  The state is stored divided by
    a per-atom scale σ = Π E2 (renormalised every few frames), so F± need no relaxation
    step: only Z is multiplied, by E1/E2, and Z_0 gets its recovery.
    """

    def __init__(self, sequence, t1, t2, b1, df, n_states, device, real_phase) -> None:
        import torch

        self.sequence = sequence
        self.device = device
        self.n = int(t1.size)
        self.spoiled = sequence.readout == "fisp"
        self.n_states = int(n_states) if self.spoiled else 1
        self.real_phase = real_phase
        self.dtype = torch.float32 if real_phase is not None else torch.complex64
        as64 = {"dtype": torch.float64, "device": device}
        self.t1 = torch.as_tensor(t1, **as64)
        self.t2 = torch.as_tensor(t2, **as64)
        self.b1 = b1
        self.df = torch.as_tensor(df, **as64) if np.any(df) else None

        n, k = self.n, self.n_states
        if self.spoiled:
            self.write_stride = (k + 2) * n
            self.write_offset = n  # F+ block: row 0 is the slot for the next F+_0
            self.read_stride = self.write_stride + n
            self.read_offset = 0
        else:
            self.write_stride = self.read_stride = 2 * n
            self.write_offset = self.read_offset = 0
        self.buffer_size = self.read_offset + 2 * self.read_stride + (k + 2) * n

    # -- per-frame coefficients of the whole chunk, computed once

    def _tables(self):
        """Per-frame (T, n) factors of the chunk."""
        import torch

        sequence, device, f32 = self.sequence, self.device, torch.float32
        tr = sequence.tr_ms
        inv_t1, inv_t2 = 1.0 / self.t1, 1.0 / self.t2  # (n,) float64
        # E1/E2 = exp(TR·(1/T2 - 1/T1)): Z's factor in the scaled variables.
        z_rate = inv_t2 - inv_t1
        # Renormalise (and, on a CPU, flush tiny values) often enough that neither the
        # 1/σ growth nor the decay of Z (E1/E2 < 1 when T1 < T2) spans more than 1e12.
        slowest_z = min(0.0, z_rate.min().item()) * tr.max()
        worst = min(-tr.max() * inv_t2.max().item(), slowest_z, -1e-12)
        interval = int(min(_MAX_RENORM_INTERVAL, max(1, math.log(1e-12) // worst)))
        # Time since the last renormalisation at each RF (ms), and after that frame's TR.
        cumulative = np.concatenate([[0.0], np.cumsum(tr)])
        frames = np.arange(sequence.n_frames)
        since = cumulative[:-1] - cumulative[(frames // interval) * interval]
        since_next = since + tr

        t2_rate = inv_t2.to(f32)

        def outer(per_frame, per_atom):
            # float32 is as accurate here as rounding a float64 product to float32
            per_frame = torch.tensor(per_frame, dtype=f32, device=device)
            return torch.outer(per_frame, per_atom.to(f32))

        recovery = outer(-tr, inv_t1).expm1_().neg_()  # 1 - E1
        recovery.mul_(outer(since_next, t2_rate).exp_())  # divided by σ after the TR
        renorm_frames = slice(interval - 1, None, interval)
        tables = {
            "interval": interval,
            "z_factor": outer(tr, z_rate).exp_().to(self.dtype),
            "recovery": recovery,
            "renorm": outer(-since_next[renorm_frames], t2_rate).exp_(),
            # scaled F+_0 just after the RF → |Mxy| at TE: σ, then relaxation over TE
            "sample": outer(-(since + sequence.te_ms), t2_rate).exp_(),
        }
        # … and its phase: precession over TE, and the factor i·e^{iφ0} of the real form
        if self.df is not None:
            turn = 2e-3 * math.pi * self.df
            one = torch.ones((), dtype=f32, device=device)
            tables["sample_phase"] = torch.polar(one, outer(sequence.te_ms, turn))
            tables["turn"] = torch.polar(one, outer(tr, turn))
        if self.real_phase is not None:
            tables["sample_phase"] = complex(1j * np.exp(1j * np.deg2rad(self.real_phase[0])))
        return tables

    def _rf_table(self):
        """(T, 3, 3) RF matrices in block order when B1 is uniform, else None."""
        import torch

        if not np.all(self.b1 == self.b1[0]):
            return None
        sequence = self.sequence
        alpha = np.deg2rad(sequence.flip_angle_deg) * self.b1[0]
        if self.real_phase is not None:
            alpha = alpha * self.real_phase[1]
        rows = _rf_rows(alpha, np.deg2rad(sequence.phase_deg), self.real_phase is not None)
        matrix = np.moveaxis(np.array(rows), (0, 1), (1, 2))  # (T, 3, 3)
        matrix = matrix[:, _BLOCK_ORDER][:, :, _BLOCK_ORDER]
        return torch.as_tensor(matrix, dtype=self.dtype, device=self.device)

    def _rf_per_atom(self, frame: int):
        """(3, 3, n) RF coefficients in block order for a chunk with mixed B1."""
        import torch

        sequence = self.sequence
        scale = math.radians(sequence.flip_angle_deg[frame])
        if self.real_phase is not None:
            scale *= self.real_phase[1][frame]
        alpha = torch.as_tensor(self.b1 * scale, dtype=torch.float64, device=self.device)
        phi = torch.tensor(math.radians(sequence.phase_deg[frame]), dtype=torch.float64)
        rows = _rf_rows(alpha, phi, self.real_phase is not None)
        return [[rows[i][j].to(self.dtype) for j in _BLOCK_ORDER] for i in _BLOCK_ORDER]

    def _initial_state(self, buffer) -> None:
        import torch

        z0 = torch.ones(self.n, dtype=torch.float64, device=self.device)
        if self.sequence.ti_ms is not None:
            e1 = torch.exp(-self.sequence.ti_ms / self.t1)
            z0 = -e1 + (1.0 - e1)  # ideal inversion, then recovery over TI
        start = self.read_offset + self.read_stride
        buffer[start : start + self.n] = z0.to(self.dtype)

    def run(self, report: Callable[[int], None]):
        """Simulate the chunk; returns complex64 (n, T)."""
        import torch

        n, n_frames = self.n, self.sequence.n_frames
        tables = self._tables()
        rf_table = self._rf_table()
        buffers = [
            torch.zeros(self.buffer_size, dtype=self.dtype, device=self.device) for _ in range(2)
        ]
        self._initial_state(buffers[0])
        samples = torch.empty((n_frames, n), dtype=self.dtype, device=self.device)
        interval = tables["interval"]
        flush = self.device.type == "cpu"
        read_off, read_stride = self.read_offset, self.read_stride
        write_off, write_stride = self.write_offset, self.write_stride
        z_start, minus_start = read_off + read_stride, read_off + 2 * read_stride
        views: dict[tuple[int, int], tuple] = {}

        def views_for(parity: int, k: int) -> tuple:
            # k changes only during the first and last K frames; reuse the views.
            if (parity, k) not in views:
                source, target = buffers[parity], buffers[1 - parity]
                views[parity, k] = (
                    torch.as_strided(source, (3, k * n), (read_stride, 1), read_off),
                    torch.as_strided(target, (3, k * n), (write_stride, 1), write_off),
                    target[write_off : write_off + n],  # F+_0 just after the RF
                    target[:n],  # slot of the next F+_0
                    target[minus_start : minus_start + n],  # F-_1 after the RF
                    target[z_start : z_start + k * n].view(k, n),
                )
            return views[parity, k]

        for frame in range(n_frames):
            if frame % _REPORT_EVERY_FRAMES == 0:
                report(frame)
            # Orders that can be populated (≤ frame) and can still reach F0 in time.
            k = min(self.n_states, frame + 1, n_frames - frame)
            source_matrix, target_matrix, plus_zero, next_plus_zero, minus_one, z_rows = views_for(
                frame % 2, k
            )
            if frame and frame % interval == 0:
                state = source_matrix.view(3, k, n)
                state.mul_(tables["renorm"][frame // interval - 1])
                if flush:
                    # x + c - c sets |x| < ulp(c)/2 ≈ 5e-26 to 0 (or ±ulp(c)) so that
                    # decaying states never become float32 denormals, ~100× slower on
                    # x86 CPUs (torch cannot switch them off in its worker threads).
                    flat = torch.view_as_real(state) if state.is_complex() else state
                    flat.add_(_FLUSH_OFFSET).sub_(_FLUSH_OFFSET)
            if rf_table is not None:
                torch.mm(rf_table[frame], source_matrix, out=target_matrix)
            else:
                src, dst = source_matrix.view(3, k, n), target_matrix.view(3, k, n)
                coefficient = self._rf_per_atom(frame)
                for i in range(3):
                    torch.mul(src[0], coefficient[i][0], out=dst[i])
                    dst[i].addcmul_(src[1], coefficient[i][1])
                    dst[i].addcmul_(src[2], coefficient[i][2])
            samples[frame] = plus_zero
            # The target now holds the next frame's F+ (orders ≥ 1) and F- already
            # shifted.  F+_0 = conj(F-_1); F-_{k-1} = F-_k = 0 was never written.
            if self.spoiled:
                if k == 1:
                    next_plus_zero.zero_()
                elif self.real_phase is not None:
                    torch.neg(minus_one, out=next_plus_zero)  # conj(i·b) = i·(-b)
                else:
                    torch.conj_physical(minus_one, out=next_plus_zero)
            z_rows.mul_(tables["z_factor"][frame])
            z_rows[0] += tables["recovery"][frame]
            if "turn" in tables:
                target = buffers[1 - frame % 2]
                turn = tables["turn"][frame]
                top = min(k + 1, self.n_states)
                target[read_off : read_off + top * n].view(top, n).mul_(turn)
                target[minus_start : minus_start + top * n].view(top, n).mul_(turn.conj())
        report(n_frames)
        samples.mul_(tables["sample"])
        if "sample_phase" in tables:
            samples = samples * tables["sample_phase"]
        signal = torch.empty((n, n_frames), dtype=torch.complex64, device=self.device)
        signal.copy_(samples.T)
        return signal
