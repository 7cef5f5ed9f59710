"""Which readout belongs to which MRF frame: decoding the loop counters of raw data.

Writers put the MRF time frame in different loop counters (ISMRMRD ``repetition``,
``kspace_encode_step_1``, ``contrast`` ...; Siemens ``Rep``, ``Lin``, ``Eco`` ...), and
the interleaf (spiral arm, spoke) of a frame either in another counter or nowhere.
:func:`assign_frames` picks the counters, checks that every frame has the same number of
readouts, and numbers the readouts of each frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AcquisitionLayout", "assign_frames"]


@dataclass
class AcquisitionLayout:
    """Frame and interleaf slot of every imaging readout (in the order given).

    Attributes
    ----------
    frames, slots
        int64 (readouts,): the MRF frame and the interleaf slot within the frame.
    n_frames, n_interleaves
        Sizes of the (frames, interleaves) grid; every cell holds exactly one readout.
    frame_counter, interleaf_counter
        The counters used (``None``: acquisition order).
    description
        One line for people (``mrf info``, metadata).
    """

    frames: np.ndarray
    slots: np.ndarray
    n_frames: int
    n_interleaves: int
    frame_counter: str | None
    interleaf_counter: str | None
    description: str


def _varying(counters: dict[str, np.ndarray]) -> list[str]:
    return [name for name, values in counters.items() if np.unique(values).size > 1]


def _choose_frame_counter(
    counters: dict[str, np.ndarray],
    frame_order: tuple[str, ...],
    varying: list[str],
    n_frames: int | None,
    source: str,
) -> str | None:
    candidates = [name for name in frame_order if name in varying]
    if n_frames is not None:
        matching = [name for name in candidates if np.unique(counters[name]).size == n_frames]
        if matching:
            return matching[0]
    if candidates:
        return candidates[0]
    if varying:
        raise ValueError(
            f"{source}: the readouts differ only in {', '.join(varying)}, which MRF Studio "
            "does not take as the frame counter; say which counter holds the frames"
        )
    return None


def assign_frames(
    counters: dict[str, np.ndarray],
    source: str,
    *,
    frame_order: tuple[str, ...],
    interleaf_default: str | None,
    frame_counter: str | None = None,
    interleaf_counter: str | None = None,
    n_frames: int | None = None,
    ignored: tuple[str, ...] = (),
    never_interleaf: tuple[str, ...] = (),
) -> AcquisitionLayout:
    """Frame and interleaf of each readout from its loop counters.

    Parameters
    ----------
    counters
        Counter name → int array (readouts,), in acquisition order.
    source
        The file, for error messages.
    frame_order
        Counters that may hold the frame, most likely first.  Without ``frame_counter``
        the first one with ``n_frames`` distinct values wins, else the first that varies.
    interleaf_default
        The usual interleaf counter; otherwise the one other varying counter is used.
    frame_counter, interleaf_counter
        Counters named by the file or the user (``interleaf_counter`` may be ``""``:
        none, readouts of a frame taken in order).
    n_frames
        Frames of the schedule, when known: picks the counter with that many values, and
        when no counter varies, splits the readouts in acquisition order.
    ignored
        Counters that may vary without meaning anything here.
    never_interleaf
        Counters that cannot hold interleaves (slices, averages, partitions).

    Raises
    ------
    ValueError
        Naming the file: unknown counters, other counters that vary (slices, averages),
        frames with different numbers of readouts.
    """
    for name in (frame_counter, interleaf_counter):
        if name and name not in counters:
            raise ValueError(
                f"{source}: unknown loop counter {name!r} (known: {', '.join(counters)})"
            )
    count = next(iter(counters.values())).size if counters else 0
    varying = [name for name in _varying(counters) if name not in ignored]
    if frame_counter is None:
        frame_counter = _choose_frame_counter(counters, frame_order, varying, n_frames, source)
    if frame_counter is None:
        per_frame = 1
        if n_frames is not None and n_frames > 0 and count % n_frames == 0:
            per_frame = count // n_frames
        frames = np.arange(count) // per_frame
        slots = np.arange(count) % per_frame
        return AcquisitionLayout(
            frames,
            slots,
            int(frames.max()) + 1 if count else 0,
            per_frame,
            None,
            None,
            f"no loop counter varies: {per_frame} consecutive readout(s) per frame",
        )
    rest = [name for name in varying if name != frame_counter]
    if interleaf_counter is None:
        possible = [name for name in rest if name not in never_interleaf]
        if interleaf_default in possible:
            interleaf_counter = interleaf_default
        elif len(possible) == 1:
            interleaf_counter = possible[0]
    interleaf_counter = interleaf_counter or None
    unexpected = [name for name in rest if name != interleaf_counter]
    if unexpected:
        spans = ", ".join(
            f"{name} {int(counters[name].min())}–{int(counters[name].max())}" for name in unexpected
        )
        raise ValueError(
            f"{source}: frames are in counter {frame_counter}"
            + (f" and interleaves in {interleaf_counter}" if interleaf_counter else "")
            + f", but the readouts also differ in {spans}; MRF Studio reconstructs one "
            "slice of one average at a time (several slices, averages or sets are not "
            "supported)"
        )
    frames = counters[frame_counter].astype(np.int64)
    total_frames = int(frames.max()) + 1
    per_frame = np.bincount(frames, minlength=total_frames)
    if np.any(per_frame != per_frame[0]):
        odd = int(np.flatnonzero(per_frame != per_frame[0])[0])
        raise ValueError(
            f"{source}: frame {odd} ({frame_counter}) has {per_frame[odd]} acquisitions but "
            f"frame 0 has {per_frame[0]}; every frame needs the same number of readouts "
            f"(data for {total_frames} frames)"
        )
    n_interleaves = int(per_frame[0])
    inner = (
        counters[interleaf_counter].astype(np.int64)
        if interleaf_counter
        else np.zeros(count, dtype=np.int64)
    )
    dense = bool(np.all((inner >= 0) & (inner < n_interleaves)))
    if dense:
        grid = np.zeros((total_frames, n_interleaves), dtype=np.int64)
        np.add.at(grid, (frames, inner), 1)
        dense = bool(np.all(grid == 1))
    if dense:
        slots = inner
        how = "the interleaf counter" if interleaf_counter else "acquisition order"
    else:
        # Counter values that differ between frames (rotating spiral arms) or repeat:
        # the readouts of a frame are numbered in acquisition order, which keeps them
        # paired with a trajectory given in the same order.
        order = np.lexsort((np.arange(count), frames))
        slots = np.empty(count, dtype=np.int64)
        slots[order] = np.arange(count) % n_interleaves
        how = "acquisition order"
        if interleaf_counter:
            how += f" ({interleaf_counter} values differ between frames)"
    description = (
        f"frames from {frame_counter} ({total_frames}), {n_interleaves} readout(s) per "
        f"frame numbered by {how}"
    )
    return AcquisitionLayout(
        frames, slots, total_frames, n_interleaves, frame_counter, interleaf_counter, description
    )
