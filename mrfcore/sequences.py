"""MRF pulse-sequence schedules: built-ins, validation, CSV/JSON import and export.

A :class:`Sequence` is what the EPG simulation, the dictionary cache and the raw-data
header all agree on.  Its :meth:`Sequence.content_hash` identifies the physics (flip
angles, phases, TRs, TEs, preparation, readout), not the name, and keys every cache.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mrfcore.resources import resource_path

__all__ = [
    "BUILTIN_SEQUENCES",
    "READOUTS",
    "Sequence",
    "builtin_sequence",
    "load_sequence",
    "read_sequence",
    "write_sequence",
]

READOUTS = ("fisp", "bssfp")
"""Readout kinds: spoiled gradient echo with unbalanced per-TR dephasing (FISP), or
balanced steady-state free precession (bSSFP)."""


@dataclass(frozen=True, eq=False)
class Sequence:
    """An MRF schedule: one entry per frame (TR).

    Attributes
    ----------
    flip_angle_deg, phase_deg, tr_ms, te_ms
        float64 arrays of shape (frames,): nominal flip angle (deg), RF phase (deg),
        repetition time (ms) and echo time (ms, the time from the RF pulse to the
        sampled echo).
    readout
        ``"fisp"`` (spoiled) or ``"bssfp"`` (balanced).
    ti_ms
        Inversion time (ms) of an ideal (adiabatic) inversion before the first frame,
        or ``None`` for no preparation.
    name, description
        For people; not part of :meth:`content_hash`.
    """

    flip_angle_deg: np.ndarray
    tr_ms: np.ndarray
    te_ms: np.ndarray
    phase_deg: np.ndarray = field(default=None)  # type: ignore[assignment]
    readout: str = "fisp"
    ti_ms: float | None = None
    name: str = "custom"
    description: str = ""

    def __post_init__(self) -> None:
        n = np.size(self.flip_angle_deg)
        phase = np.zeros(n) if self.phase_deg is None else self.phase_deg
        te = np.full(n, float(self.te_ms)) if np.ndim(self.te_ms) == 0 else self.te_ms
        arrays = {
            "flip_angle_deg": self.flip_angle_deg,
            "phase_deg": phase,
            "tr_ms": self.tr_ms,
            "te_ms": te,
        }
        for key, value in arrays.items():
            array = np.array(value, dtype=np.float64).reshape(-1)
            array.setflags(write=False)
            object.__setattr__(self, key, array)
        self._validate()

    def _validate(self) -> None:
        n = self.flip_angle_deg.size
        where = f"sequence '{self.name}'"
        if n == 0:
            raise ValueError(f"{where} has no frames")
        for key in ("phase_deg", "tr_ms", "te_ms"):
            if getattr(self, key).size != n:
                raise ValueError(
                    f"{where}: {key} has {getattr(self, key).size} values but "
                    f"flip_angle_deg has {n}; every per-frame list must have the same length"
                )
        for key in ("flip_angle_deg", "phase_deg", "tr_ms", "te_ms"):
            bad = np.flatnonzero(~np.isfinite(getattr(self, key)))
            if bad.size:
                raise ValueError(f"{where}: {key} is not finite at frame {bad[0] + 1}")
        checks = [
            (self.flip_angle_deg < 0, "flip angle must be ≥ 0°", self.flip_angle_deg, "°"),
            (self.flip_angle_deg > 180, "flip angle must be ≤ 180°", self.flip_angle_deg, "°"),
            (self.tr_ms <= 0, "TR must be > 0 ms", self.tr_ms, " ms"),
            (self.te_ms < 0, "TE must be ≥ 0 ms", self.te_ms, " ms"),
            (self.te_ms >= self.tr_ms, "TE must be shorter than TR", self.te_ms, " ms"),
        ]
        for bad_mask, message, values, unit in checks:
            bad = np.flatnonzero(bad_mask)
            if bad.size:
                frame = bad[0]
                extra = f" (TR {self.tr_ms[frame]:g} ms)" if "TR" in message else ""
                raise ValueError(
                    f"{where}: {message}, but frame {frame + 1} has "
                    f"{values[frame]:g}{unit}{extra}"
                    + (f" ({bad.size} frames affected)" if bad.size > 1 else "")
                )
        if self.readout not in READOUTS:
            raise ValueError(f"{where}: readout must be one of {READOUTS}, got {self.readout!r}")
        if self.ti_ms is not None and not (np.isfinite(self.ti_ms) and self.ti_ms >= 0):
            raise ValueError(f"{where}: TI must be a finite time ≥ 0 ms, got {self.ti_ms!r}")

    @property
    def n_frames(self) -> int:
        return int(self.flip_angle_deg.size)

    @property
    def duration_ms(self) -> float:
        """Total acquisition time including the inversion delay."""
        return float(self.tr_ms.sum() + (self.ti_ms or 0.0))

    def content_hash(self) -> str:
        """Stable 16-hex-digit hash of the physics of the schedule.

        Values are rounded to 1e-6 before hashing so that a schedule written to CSV/JSON
        and read back hashes the same.
        """
        payload = {
            "readout": self.readout,
            "ti_ms": None if self.ti_ms is None else round(float(self.ti_ms), 6),
            **{
                key: [round(float(v), 6) for v in getattr(self, key)]
                for key in ("flip_angle_deg", "phase_deg", "tr_ms", "te_ms")
            },
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_te(self, te_ms: float | np.ndarray) -> Sequence:
        """The same schedule with another echo time (e.g. radial vs spiral readout)."""
        return self.replace(te_ms=te_ms)

    def replace(self, **changes: Any) -> Sequence:
        values = {
            "flip_angle_deg": self.flip_angle_deg,
            "tr_ms": self.tr_ms,
            "te_ms": self.te_ms,
            "phase_deg": self.phase_deg,
            "readout": self.readout,
            "ti_ms": self.ti_ms,
            "name": self.name,
            "description": self.description,
        }
        values.update(changes)
        return Sequence(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "readout": self.readout,
            "ti_ms": self.ti_ms,
            "flip_angle_deg": self.flip_angle_deg.tolist(),
            "phase_deg": self.phase_deg.tolist(),
            "tr_ms": self.tr_ms.tolist(),
            "te_ms": self.te_ms.tolist(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Sequence:
        known = {
            "name",
            "description",
            "readout",
            "ti_ms",
            "flip_angle_deg",
            "phase_deg",
            "tr_ms",
            "te_ms",
        }
        missing = {"flip_angle_deg", "tr_ms", "te_ms"} - set(values)
        if missing:
            raise ValueError(f"sequence is missing {sorted(missing)}")
        return cls(**{k: v for k, v in values.items() if k in known})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self.content_hash() == other.content_hash()

    def __hash__(self) -> int:
        return hash(self.content_hash())

    def __repr__(self) -> str:
        prep = f", TI {self.ti_ms:g} ms" if self.ti_ms is not None else ""
        return (
            f"Sequence({self.name!r}, {self.n_frames} frames, {self.readout}{prep}, "
            f"hash {self.content_hash()})"
        )


# --------------------------------------------------------------------------- built-ins


def _fisp_jiang2015(te_ms: float = 1.908) -> Sequence:
    table = _read_csv_table(resource_path("sequences/fisp_jiang2015.csv"))
    return Sequence(
        flip_angle_deg=table["flip_angle_deg"],
        tr_ms=table["tr_ms"],
        te_ms=te_ms,
        readout="fisp",
        ti_ms=18.0,
        name="fisp-jiang2015",
        description=(
            "MRF-FISP of Jiang et al. 2015 (MRM 74:1621): 1000 frames, spoiled, "
            "adiabatic inversion with TI 18 ms, TE 1.908 ms"
        ),
    )


def _ir_ramp_880(te_ms: float = 0.46) -> Sequence:
    frame = np.arange(1, 881, dtype=np.float64)
    flip = np.ones_like(frame)
    up = frame <= 400
    flip[up] = 1.0 + 69.0 * (frame[up] - 1) / 399
    down = (frame > 400) & (frame <= 600)
    flip[down] = 70.0 - 69.0 * (frame[down] - 400) / 200
    return Sequence(
        flip_angle_deg=flip,
        tr_ms=np.full(880, 12.0),
        te_ms=te_ms,
        readout="fisp",
        ti_ms=18.0,
        name="ir-ramp-880",
        description=(
            "Inversion (TI 18 ms) then 880 spoiled TRs of 12 ms; flip angle 1°→70° over "
            "frames 1–400, 70°→1° over 400–600, 1° after; TE 0.46 ms (spiral), "
            "2.08 ms for radial (the LRTV/MRFResnet papers)"
        ),
    )


def _ir_bssfp_ma2013(n_frames: int = 1000) -> Sequence:
    # The rule, in the style of Ma et al. 2013 (Nature 495:187): flip angles follow
    # half-sine lobes of 250 frames with amplitudes cycling through 60°, 40°, 70°, 30°
    # on a 5° floor; the RF phase alternates 0°/180° (the usual bSSFP phase cycle); TR
    # varies smoothly and pseudo-randomly between 10.5 and 14 ms (two incommensurate
    # sines stand in for the Perlin noise of the paper); TE is TR/2; the schedule
    # starts with an inversion and TI 40 ms.
    i = np.arange(n_frames, dtype=np.float64)
    amplitude = np.array([60.0, 40.0, 70.0, 30.0])[(i // 250).astype(int) % 4]
    flip = 5.0 + amplitude * np.sin(np.pi * (i % 250) / 250)
    phase = np.where(i % 2 == 0, 0.0, 180.0)
    wobble = 0.5 + 0.25 * np.sin(2 * np.pi * i / 173.0) + 0.25 * np.sin(2 * np.pi * i / 61.0 + 1.0)
    tr = 10.5 + 3.5 * wobble
    return Sequence(
        flip_angle_deg=flip,
        phase_deg=phase,
        tr_ms=tr,
        te_ms=tr / 2,
        readout="bssfp",
        ti_ms=40.0,
        name="ir-bssfp-ma2013",
        description=(
            "Balanced IR-bSSFP in the style of Ma et al. 2013: 1000 frames, half-sine "
            "flip-angle lobes, 0°/180° phase cycling, TR 10.5–14 ms, TE = TR/2, TI 40 ms"
        ),
    )


BUILTIN_SEQUENCES: dict[str, Callable[..., Sequence]] = {
    "fisp-jiang2015": _fisp_jiang2015,
    "ir-ramp-880": _ir_ramp_880,
    "ir-bssfp-ma2013": _ir_bssfp_ma2013,
}


def builtin_sequence(name: str, **parameters: Any) -> Sequence:
    """A built-in schedule by its stable name (see :data:`BUILTIN_SEQUENCES`)."""
    try:
        factory = BUILTIN_SEQUENCES[name]
    except KeyError:
        raise KeyError(
            f"no built-in sequence named {name!r}; built-ins: {sorted(BUILTIN_SEQUENCES)}"
        ) from None
    return factory(**parameters)


def load_sequence(name_or_path: str | Path, te_ms: float | None = None) -> Sequence:
    """A built-in by name, or a schedule file (.csv or .json) by path.

    ``te_ms`` overrides the echo time of the result (e.g. 2.08 ms for radial
    ``ir-ramp-880``).
    """
    text = str(name_or_path)
    if text in BUILTIN_SEQUENCES:
        sequence = builtin_sequence(text)
    elif Path(text).exists():
        sequence = read_sequence(text, te_ms=te_ms)
    else:
        raise ValueError(
            f"{text!r} is neither a built-in sequence {sorted(BUILTIN_SEQUENCES)} "
            "nor an existing schedule file"
        )
    return sequence if te_ms is None else sequence.with_te(te_ms)


# ----------------------------------------------------------------------- CSV and JSON

_CSV_COLUMNS = ("flip_angle_deg", "tr_ms", "te_ms", "phase_deg")
_CSV_META = ("name", "description", "readout", "ti_ms")


def _parse_float(text: str, path: Path, line: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}: line {line}: {column} value {text!r} is not a number") from None


def _read_csv_table(path: Path) -> dict[str, np.ndarray]:
    table, _ = _read_csv(path)
    return table


def _read_csv(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Columns and '# key: value' comment metadata of a schedule CSV."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the schedule file: {error.strerror}") from None
    meta: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            key, sep, value = stripped[1:].partition(":")
            if sep:
                meta[key.strip()] = value.strip()
        elif stripped:
            body.append((number, line))
    if not body:
        raise ValueError(f"{path}: the schedule file has no header row and no data")
    header_line, header_text = body[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]
    required = {"flip_angle_deg", "tr_ms"}
    missing = required - set(header)
    if missing:
        raise ValueError(
            f"{path}: line {header_line}: the header must name the columns "
            f"flip_angle_deg and tr_ms (optional: te_ms, phase_deg); found {header}"
        )
    columns: dict[str, list[float]] = {name: [] for name in header if name in _CSV_COLUMNS}
    for number, text in body[1:]:
        row = next(csv.reader([text]))
        if len(row) != len(header):
            raise ValueError(
                f"{path}: line {number}: expected {len(header)} values, found {len(row)}"
            )
        for name, value in zip(header, row, strict=True):
            if name in columns:
                columns[name].append(_parse_float(value.strip(), path, number, name))
    return {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}, meta


def read_sequence(
    path: str | Path,
    te_ms: float | None = None,
    ti_ms: float | None = None,
    readout: str | None = None,
) -> Sequence:
    """Read a schedule from CSV or JSON.

    CSV: columns ``flip_angle_deg``, ``tr_ms``, optional ``te_ms`` and ``phase_deg``;
    ``# key: value`` comment lines may carry ``name``, ``readout`` and ``ti_ms``.
    Keyword arguments fill in what the file does not say (a CSV without ``te_ms``
    needs ``te_ms``).

    Raises
    ------
    ValueError
        Naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            try:
                values = json.loads(path.read_text(encoding="utf-8"))
            except OSError as error:
                raise ValueError(f"cannot read the schedule file: {error.strerror}") from None
            except json.JSONDecodeError as error:
                raise ValueError(f"not valid JSON: {error}") from None
            if not isinstance(values, dict):
                raise ValueError("a JSON schedule must be an object with per-frame lists")
        else:
            table, meta = _read_csv(path)
            values = {**{k: v for k, v in meta.items() if k in _CSV_META}, **table}
            if "ti_ms" in values:
                values["ti_ms"] = (
                    None if values["ti_ms"] in ("", "none", "None") else float(values["ti_ms"])
                )
        values.setdefault("name", path.stem)
        if te_ms is not None and "te_ms" not in values:
            values["te_ms"] = te_ms
        if ti_ms is not None:
            values["ti_ms"] = ti_ms
        if readout is not None:
            values["readout"] = readout
        missing = {"flip_angle_deg", "tr_ms"} - set(values)
        if missing:
            raise ValueError(f"the schedule is missing {sorted(missing)}")
        if "te_ms" not in values:
            raise ValueError("the schedule gives no te_ms column; give the echo time (--te)")
        return Sequence.from_dict(values)
    except ValueError as error:
        message = str(error)
        raise ValueError(
            message if message.startswith(str(path)) else f"{path}: {message}"
        ) from None


def write_sequence(sequence: Sequence, path: str | Path) -> Path:
    """Write a schedule as CSV (with metadata comments) or JSON, by file suffix."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        text = json.dumps(sequence.to_dict(), indent=1)
    else:
        buffer = io.StringIO()
        for key in _CSV_META:
            value = getattr(sequence, key)
            buffer.write(f"# {key}: {'none' if value is None else value}\n")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(_CSV_COLUMNS)
        for row in zip(*(getattr(sequence, c) for c in _CSV_COLUMNS), strict=True):
            writer.writerow([f"{v:.6f}" for v in row])
        text = buffer.getvalue()
    from mrfcore.io.atomic import atomic_write_text

    atomic_write_text(path, text)
    return path
