"""Reference T1/T2 values of the ISMRM/NIST system phantom and the EUROSPIN TO5 phantom.

The values ship as the CSV files of the MR-BIAS project (BSD-3 licence) under
``resources/reference``:

``nist_caliber/<batch>/T1-*.csv``
    The NiCl2 array ("T1 plate"): T1 *and* T2 of its 14 spheres.
``nist_caliber/<batch>/T2-*.csv``
    The MnCl2 array ("T2 plate"): T1 *and* T2 of its 14 spheres.
``nist_caliber/T?_*_curve_fit_init.csv``, ``eurospin_to5/T?_*_curve_fit_init.csv``
    Not reference values: rounded starting guesses that MR-BIAS gives its curve fits
    (the EUROSPIN ones are even copied from the NIST list).  Exposed only through
    :func:`fit_initial_values`.
``eurospin_to5/T1-*.csv``, ``T2-*.csv``
    T1 and T2 of the 18 TO5 vials at 1.5 T and 20 °C (the two files are identical; as in
    MR-BIAS, T1 is read from the T1 file and T2 from the T2 file).  The column titled
    "NiCl2/MnCl2 Concentration (mM)" holds the *vial number*.

The files are read as they are: quoted numbers with thousands separators ("2,480"),
temperatures written "~20" (approximate, for values extrapolated to 1.5 T), a missing
final newline, and with or without a "Solution" column ("T1-14").

One correction: the two batch 1 MnCl2 files are used for the field strength opposite to
the one in their names and their "Field strength" column (evidence at
``_BATCH1_MNCL2_SWAP``); every value read from them says so in its ``note``.

Sphere numbering follows NIST/MR-BIAS: sphere 1 holds the lowest salt concentration
(longest relaxation times), sphere 14 the highest.

Batches (serial numbers of the CaliberMRI phantom): ``batch1`` SN ≤ 130-0041,
``batch2`` SN ≥ 130-0042, ``batch2.5`` SN ≥ 130-0133.  The 3 T values of batch 2/2.5
were measured at NIST (3.00672 T) at 16–26 °C; the 1.5 T values of batch 2/2.5 are
extrapolations from them ("Extrap" in the file name, no uncertainties given).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrfcore.resources import resource_path

__all__ = [
    "EUROSPIN_FIELDS_T",
    "NIST_BATCHES",
    "NIST_FIELDS_T",
    "ReferenceSet",
    "ReferenceTable",
    "ReferenceValue",
    "eurospin_reference_sets",
    "eurospin_reference_values",
    "fit_initial_values",
    "nist_reference_sets",
    "nist_reference_values",
    "normalise_batch",
    "normalise_plate",
    "parse_reference_csv",
]

NIST_BATCHES: tuple[str, ...] = ("batch1", "batch2", "batch2.5")
NIST_FIELDS_T: tuple[float, ...] = (1.5, 3.0)
EUROSPIN_FIELDS_T: tuple[float, ...] = (1.5,)
NIST_SPHERES = 14
EUROSPIN_VIALS = 18

_BATCH_DESCRIPTIONS = {
    "batch1": "CaliberMRI system phantom batch 1 (serial numbers up to 130-0041)",
    "batch2": "CaliberMRI system phantom batch 2 (serial numbers from 130-0042)",
    "batch2.5": "CaliberMRI system phantom batch 2.5 (serial numbers from 130-0133)",
}

_NIST_DIR = "reference/nist_caliber"
_EUROSPIN_DIR = "reference/eurospin_to5"

# The two batch 1 MnCl2 (T2 plate) files carry each other's field strength in their
# names.  Evidence: the MnCl2 relaxivity 1/(T2·c) they imply is ≈105 /s/mM in the "1p5T"
# file and ≈75 in the "3T" file, while NIST's own batch 2/2.5 values give ≈120 at 3 T
# (measured) and ≈77 at 1.5 T; Mn2+ r2 grows with B0.  hazen (relaxometry_params.py,
# plate 4) and OpenMRF (NIST_references.m, from Stupic et al. 2021's supporting
# information) list 2480/581.3 ms for sphere 1 at 3 T, i.e. the "1p5T" file.  We therefore
# read each file for the other field, and say so in every value's note.
_BATCH1_MNCL2_SWAP = (
    "the shipped batch 1 MnCl2 files are labelled with each other's field strength; this "
    "value comes from the file named for the other field (see mrfcore.phantoms."
    "reference_values: relaxivities, hazen, Stupic et al. 2021)"
)

# (batch, nominal field, plate) -> (file relative to resources/, note).  Batch 2.5 has no
# 3 T file for the NiCl2 (T1) plate.  Its NiCl2 array is the batch 2 one (the two 1.5 T
# T1-plate files are identical), so the batch 2 file is used, as MR-BIAS does; the note
# travels with every value so the choice is never silent.
_NIST_FILES: dict[tuple[str, float, str], tuple[str, str]] = {
    ("batch1", 1.5, "T1"): ("batch1_sn_lte_130-0041/T1-Batch1_1p5T_userCreated_20210726.csv", ""),
    ("batch1", 1.5, "T2"): (
        "batch1_sn_lte_130-0041/T2-Batch1_3T_userCreated_20210726.csv",
        _BATCH1_MNCL2_SWAP,
    ),
    ("batch1", 3.0, "T1"): ("batch1_sn_lte_130-0041/T1-Batch1_3T_userCreated_20210726.csv", ""),
    ("batch1", 3.0, "T2"): (
        "batch1_sn_lte_130-0041/T2-Batch1_1p5T_userCreated_20210726.csv",
        _BATCH1_MNCL2_SWAP,
    ),
    ("batch2", 1.5, "T1"): (
        "batch2_sn_gte_130-0042/T1-Batch2_Extrap-1p5T_userCreated-20210726.csv",
        "1.5 T values extrapolated from 3 T measurements (no uncertainties given)",
    ),
    ("batch2", 1.5, "T2"): (
        "batch2_sn_gte_130-0042/T2-Batch2_Extrap-1p5T_dl-20210726.csv",
        "1.5 T values extrapolated from 3 T measurements (no uncertainties given)",
    ),
    ("batch2", 3.0, "T1"): ("batch2_sn_gte_130-0042/T1-Batch2_3T_dl-20210726.csv", ""),
    ("batch2", 3.0, "T2"): ("batch2_sn_gte_130-0042/T2-Batch2_3T_dl-20210726.csv", ""),
    ("batch2.5", 1.5, "T1"): (
        "batch2p5_sn_gte_130-0133/T1-Batch2p5_Extrap-1p5T_userCreated-20210726.csv",
        "1.5 T values extrapolated from 3 T measurements (no uncertainties given)",
    ),
    ("batch2.5", 1.5, "T2"): (
        "batch2p5_sn_gte_130-0133/T2-Batch2p5_Extrap-1p5T_dl-20210726.csv",
        "1.5 T values extrapolated from 3 T measurements (no uncertainties given)",
    ),
    ("batch2.5", 3.0, "T1"): (
        "batch2_sn_gte_130-0042/T1-Batch2_3T_dl-20210726.csv",
        "batch 2.5 ships no 3 T values for the NiCl2 (T1) plate; its NiCl2 array is "
        "unchanged from batch 2, so the batch 2 values are used (as MR-BIAS does)",
    ),
    ("batch2.5", 3.0, "T2"): ("batch2p5_sn_gte_130-0133/T2-Batch2p5_3T_dl-20210726.csv", ""),
}

_EUROSPIN_FILES = {
    (1.5, "T1"): "T1-Batch1_1p5T_userCreated_20240315.csv",
    (1.5, "T2"): "T2-Batch1_1p5T_userCreated_20240315.csv",
}

_FIT_INIT_FILES = {
    ("nist", 1.5, "T1"): f"{_NIST_DIR}/T1_1p5T_curve_fit_init.csv",
    ("nist", 1.5, "T2"): f"{_NIST_DIR}/T2_1p5T_curve_fit_init.csv",
    ("nist", 3.0, "T1"): f"{_NIST_DIR}/T1_3T_curve_fit_init.csv",
    ("nist", 3.0, "T2"): f"{_NIST_DIR}/T2_3T_curve_fit_init.csv",
    ("eurospin", 1.5, "T1"): f"{_EUROSPIN_DIR}/T1_1p5T_curve_fit_init.csv",
    ("eurospin", 1.5, "T2"): f"{_EUROSPIN_DIR}/T2_1p5T_curve_fit_init.csv",
}

# Column titles as written in the files -> canonical keys.  Both salts map to one key;
# which salt it was is kept in ReferenceTable.salt.
_COLUMNS = {
    "solution": "solution",
    "field strength (t)": "field_t",
    "nicl2 concentration (mm)": "concentration_mm",
    "mncl2 concentration (mm)": "concentration_mm",
    "temp (c)": "temperature_c",
    "t1 reported (ms)": "t1_ms",
    "t1 uncertainty (ms)": "t1_sd_ms",
    "t2 reported (ms)": "t2_ms",
    "t2 uncertainty (ms)": "t2_sd_ms",
}
_TEXT_COLUMNS = {"solution"}
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_THOUSANDS_NUMBER = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_FIELD_TOLERANCE_T = 0.1


@dataclass(frozen=True)
class ReferenceValue:
    """Reference relaxation times of one sphere or vial.

    Attributes
    ----------
    sphere
        Sphere (NIST) or vial (EUROSPIN) number, 1-based.
    t1_ms, t2_ms
        Reference T1 and T2 in ms.
    t1_sd_ms, t2_sd_ms
        Their stated uncertainty in ms, ``None`` where the file gives none.
    concentration_mm
        NiCl2 (T1 plate) or MnCl2 (T2 plate) concentration in mM; ``None`` for EUROSPIN.
    field_strength_t
        Field strength as written in the file (e.g. 3.00672 for NIST's 3 T magnet).
    temperature_c
        Temperature the values refer to, °C (the requested one when interpolated).
    temperature_method
        ``"exact"``, ``"interpolated"`` (linear between the two bracketing temperatures of
        the file) or ``"nearest"`` (the file's nearest temperature; see ``note``).
    source
        File the values were read from, relative to ``resources/``.
    phantom, plate, batch
        ``"nist"`` or ``"eurospin"``; ``"T1"`` (NiCl2 array) or ``"T2"`` (MnCl2 array);
        batch name (``"batch1"`` for EUROSPIN, which has one).
    note
        Anything a user must know about these values (extrapolated, borrowed, nearest
        temperature used ...); empty when there is nothing to add.
    """

    sphere: int
    t1_ms: float
    t1_sd_ms: float | None
    t2_ms: float
    t2_sd_ms: float | None
    concentration_mm: float | None
    field_strength_t: float
    temperature_c: float
    temperature_method: str
    source: str
    phantom: str
    plate: str
    batch: str
    note: str = ""


@dataclass(frozen=True)
class ReferenceSet:
    """One available choice of reference values (for menus in the GUI)."""

    phantom: str
    batch: str
    field_strength_t: float
    plate: str
    temperatures_c: tuple[float, ...]
    source: str
    description: str
    note: str = ""


@dataclass
class ReferenceTable:
    """The rows of one reference CSV file, with canonical column names.

    Attributes
    ----------
    path
        The file read.
    columns
        Canonical names of its columns, in file order (see ``_COLUMNS``).
    rows
        One dict per data row: floats for numeric columns, str for ``solution``.
    salt
        ``"NiCl2"``, ``"MnCl2"`` or ``None``, from the concentration column's title.
    approximate_temperature
        True when temperatures were written with a "~" (approximate).
    """

    path: Path
    columns: list[str]
    rows: list[dict[str, Any]]
    salt: str | None
    approximate_temperature: bool


def _parse_number(text: str, path: Path, line: int, column: str) -> tuple[float, bool]:
    """A cell as a float; the flag says it was written approximately ("~20")."""
    cell = text.strip()
    approximate = cell.startswith("~")
    if approximate:
        cell = cell[1:].strip()
    if _THOUSANDS_NUMBER.match(cell):
        cell = cell.replace(",", "")
    elif not _PLAIN_NUMBER.match(cell):
        raise ValueError(f"{path}: line {line}, column {column!r}: {text!r} is not a number")
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(f"{path}: line {line}, column {column!r}: {text!r} is not finite")
    return value, approximate


def parse_reference_csv(path: str | Path) -> ReferenceTable:
    """Read one MR-BIAS reference CSV file as it is.

    Parameters
    ----------
    path
        The CSV file.

    Returns
    -------
    ReferenceTable
        Rows with canonical keys ``solution``, ``field_t``, ``concentration_mm``,
        ``temperature_c``, ``t1_ms``, ``t1_sd_ms``, ``t2_ms``, ``t2_sd_ms`` (those present).

    Raises
    ------
    ValueError
        Naming the file, line and column: an unknown column title, a row with the wrong
        number of cells (e.g. an unquoted "2,480"), an empty or non-numeric cell.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        records = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if not records:
        raise ValueError(f"{path}: the file is empty")
    header, body = records[0], records[1:]
    columns, salt = [], None
    for title in header:
        key = _COLUMNS.get(title.strip().lower())
        if key is None:
            raise ValueError(
                f"{path}: unknown column {title!r}; expected some of "
                f"{sorted({t.title() for t in _COLUMNS})}"
            )
        if key in columns:
            raise ValueError(f"{path}: column {title!r} appears twice")
        if key == "concentration_mm":
            salt = "NiCl2" if title.strip().lower().startswith("nicl2") else "MnCl2"
        columns.append(key)
    if not body:
        raise ValueError(f"{path}: no data rows after the header")
    rows, approximate_temperature = [], False
    for line, record in enumerate(body, start=2):
        if len(record) != len(columns):
            raise ValueError(
                f"{path}: line {line} has {len(record)} cells but the header has "
                f"{len(columns)} (an unquoted thousands separator?)"
            )
        row: dict[str, Any] = {}
        for key, cell in zip(columns, record, strict=True):
            if key in _TEXT_COLUMNS:
                row[key] = cell.strip()
                continue
            value, approximate = _parse_number(cell, path, line, key)
            approximate_temperature |= approximate and key == "temperature_c"
            row[key] = value
        rows.append(row)
    return ReferenceTable(path, columns, rows, salt, approximate_temperature)


def normalise_batch(batch: str | float) -> str:
    """Canonical NIST batch name (``"batch1"``, ``"batch2"``, ``"batch2.5"``).

    Accepts e.g. ``1``, ``"2"``, ``2.5``, ``"2p5"``, ``"batch2p5"``, ``"Batch 2.5"``.
    """
    text = str(batch).strip().lower().replace(" ", "").replace("_", "")
    text = text.removeprefix("batch").replace("p", ".")
    aliases = {"1": "batch1", "1.0": "batch1", "2": "batch2", "2.0": "batch2", "2.5": "batch2.5"}
    if text not in aliases:
        raise ValueError(
            f"unknown NIST phantom batch {batch!r}; available: {', '.join(NIST_BATCHES)} "
            f"({'; '.join(_BATCH_DESCRIPTIONS.values())})"
        )
    return aliases[text]


def normalise_plate(plate: str) -> str:
    """``"T1"`` (NiCl2 array) or ``"T2"`` (MnCl2 array) from a plate or salt name."""
    text = str(plate).strip().lower()
    if text in ("t1", "nicl2", "ni"):
        return "T1"
    if text in ("t2", "mncl2", "mn"):
        return "T2"
    raise ValueError(f"unknown plate {plate!r}; choose 'T1' (NiCl2 array) or 'T2' (MnCl2 array)")


def _nominal_field(field_strength_t: float, available: tuple[float, ...], what: str) -> float:
    for field in available:
        if abs(float(field_strength_t) - field) <= _FIELD_TOLERANCE_T:
            return field
    raise ValueError(
        f"no {what} reference values for field strength {field_strength_t} T "
        f"(available: {', '.join(f'{f:g} T' for f in available)})"
    )


def _sphere_numbers(table: ReferenceTable, expected: int) -> list[int]:
    """Sphere number of each row: 1 for the lowest concentration, as NIST numbers them."""
    concentrations = sorted({row["concentration_mm"] for row in table.rows})
    if len(concentrations) != expected:
        raise ValueError(
            f"{table.path}: expected {expected} spheres, found {len(concentrations)} "
            "distinct concentrations"
        )
    rank = {c: i + 1 for i, c in enumerate(concentrations)}
    numbers = [rank[row["concentration_mm"]] for row in table.rows]
    for row, number in zip(table.rows, numbers, strict=True):
        solution = row.get("solution")
        if solution and int(solution.rsplit("-", 1)[-1]) != number:
            raise ValueError(
                f"{table.path}: solution {solution!r} has concentration "
                f"{row['concentration_mm']} mM, which ranks as sphere {number}"
            )
    return numbers


def _at_temperature(
    samples: list[dict[str, Any]],
    temperature_c: float,
    mode: str,
    tolerance_c: float,
    source: str,
) -> tuple[dict[str, float | None], float, str, str]:
    """Values of one sphere at a temperature: (values, temperature used, method, note)."""
    samples = sorted(samples, key=lambda r: r["temperature_c"])
    temps = [r["temperature_c"] for r in samples]
    keys = ("t1_ms", "t1_sd_ms", "t2_ms", "t2_sd_ms")

    def pick(row: dict[str, Any]) -> dict[str, float | None]:
        return {k: row.get(k) for k in keys}

    for row in samples:
        if math.isclose(row["temperature_c"], temperature_c, abs_tol=1e-9):
            return pick(row), temperature_c, "exact", ""
    if mode == "interpolate" and temps[0] < temperature_c < temps[-1]:
        upper = next(i for i, t in enumerate(temps) if t > temperature_c)
        lo, hi = samples[upper - 1], samples[upper]
        w = (temperature_c - lo["temperature_c"]) / (hi["temperature_c"] - lo["temperature_c"])
        values = {
            k: None if lo.get(k) is None or hi.get(k) is None else (1 - w) * lo[k] + w * hi[k]
            for k in keys
        }
        note = (
            f"linearly interpolated between {lo['temperature_c']:g} and {hi['temperature_c']:g} °C"
        )
        return values, temperature_c, "interpolated", note
    nearest = min(samples, key=lambda r: abs(r["temperature_c"] - temperature_c))
    gap = abs(nearest["temperature_c"] - temperature_c)
    if gap > tolerance_c:
        raise ValueError(
            f"{source}: no reference values near {temperature_c:g} °C (available: "
            f"{', '.join(f'{t:g}' for t in temps)} °C; tolerance {tolerance_c:g} °C)"
        )
    note = (
        f"values at {nearest['temperature_c']:g} °C, the nearest available temperature to "
        f"the requested {temperature_c:g} °C (not corrected for temperature)"
    )
    return pick(nearest), nearest["temperature_c"], "nearest", note


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _nist_table(batch: str, field: float, plate: str) -> tuple[ReferenceTable, str, str]:
    relative, note = _NIST_FILES[(batch, field, plate)]
    source = f"{_NIST_DIR}/{relative}"
    table = parse_reference_csv(resource_path(source))
    expected_salt = "NiCl2" if plate == "T1" else "MnCl2"
    if table.salt != expected_salt:
        raise ValueError(f"{source}: expected a {expected_salt} column, found {table.salt}")
    return table, source, note


def nist_reference_values(
    field_strength_t: float = 1.5,
    batch: str | float = "batch1",
    temperature_c: float = 20.0,
    plate: str = "T1",
    temperature_mode: str = "interpolate",
    temperature_tolerance_c: float = 2.0,
) -> list[ReferenceValue]:
    """Reference T1/T2 of the 14 spheres of one relaxation plate of the NIST phantom.

    Parameters
    ----------
    field_strength_t
        1.5 or 3.0 (within 0.1 T).
    batch
        ``"batch1"``, ``"batch2"`` or ``"batch2.5"`` (see :func:`normalise_batch`).
    temperature_c
        Phantom temperature in °C.
    plate
        ``"T1"`` (NiCl2 array) or ``"T2"`` (MnCl2 array).  Each file gives both T1 and
        T2 of its spheres.
    temperature_mode
        ``"interpolate"``: linear interpolation between the file's bracketing
        temperatures, falling back to the nearest temperature outside their range;
        ``"nearest"``: the nearest temperature of the file.  Either way the nearest
        temperature must lie within ``temperature_tolerance_c``, else ValueError.
    temperature_tolerance_c
        Largest accepted gap between the requested and the nearest available temperature.

    Returns
    -------
    list[ReferenceValue]
        14 values, sphere 1 first; each says how its temperature was handled.
    """
    if temperature_mode not in ("interpolate", "nearest"):
        raise ValueError(
            f"temperature_mode must be 'interpolate' or 'nearest', got {temperature_mode!r}"
        )
    batch = normalise_batch(batch)
    plate = normalise_plate(plate)
    field = _nominal_field(field_strength_t, NIST_FIELDS_T, "NIST/Caliber")
    table, source, file_note = _nist_table(batch, field, plate)
    numbers = _sphere_numbers(table, NIST_SPHERES)
    by_sphere: dict[int, list[dict[str, Any]]] = {}
    for row, number in zip(table.rows, numbers, strict=True):
        by_sphere.setdefault(number, []).append(row)
    approx = (
        "temperature given as approximate ('~') in the file"
        if (table.approximate_temperature)
        else ""
    )
    file_field = table.rows[0]["field_t"]
    if abs(file_field - field) > _FIELD_TOLERANCE_T and file_note != _BATCH1_MNCL2_SWAP:
        raise ValueError(f"{source}: holds values for {file_field} T, expected {field:g} T")
    field_value = file_field if abs(file_field - field) <= _FIELD_TOLERANCE_T else field
    values = []
    for number in sorted(by_sphere):
        rows = by_sphere[number]
        picked, temp, method, note = _at_temperature(
            rows, float(temperature_c), temperature_mode, temperature_tolerance_c, source
        )
        values.append(
            ReferenceValue(
                sphere=number,
                t1_ms=float(picked["t1_ms"]),
                t1_sd_ms=picked["t1_sd_ms"],
                t2_ms=float(picked["t2_ms"]),
                t2_sd_ms=picked["t2_sd_ms"],
                concentration_mm=rows[0]["concentration_mm"],
                field_strength_t=field_value,
                temperature_c=temp,
                temperature_method=method,
                source=source,
                phantom="nist",
                plate=plate,
                batch=batch,
                note=_join(file_note, approx, note),
            )
        )
    return values


def nist_reference_sets() -> list[ReferenceSet]:
    """Every (batch, field, plate) with reference values, and its temperatures."""
    sets = []
    for (batch, field, plate), (_relative, note) in _NIST_FILES.items():
        table, source, _ = _nist_table(batch, field, plate)
        temps = tuple(sorted({row["temperature_c"] for row in table.rows}))
        sets.append(
            ReferenceSet(
                "nist", batch, field, plate, temps, source, _BATCH_DESCRIPTIONS[batch], note
            )
        )
    return sets


def _eurospin_table(field: float, plate: str) -> tuple[ReferenceTable, str, list[int]]:
    source = f"{_EUROSPIN_DIR}/{_EUROSPIN_FILES[(field, plate)]}"
    table = parse_reference_csv(resource_path(source))
    # The concentration column of these files holds the vial number.
    vials = [row.get("concentration_mm") for row in table.rows]
    if any(v is None or v != int(v) for v in vials) or sorted(vials) != list(
        range(1, EUROSPIN_VIALS + 1)
    ):
        raise ValueError(f"{source}: expected vial numbers 1–{EUROSPIN_VIALS}, found {vials}")
    return table, source, [int(v) for v in vials]


def eurospin_reference_values(
    field_strength_t: float = 1.5, temperature_c: float = 20.0, temperature_tolerance_c: float = 2.0
) -> list[ReferenceValue]:
    """Reference T1/T2 of the 18 vials of the EUROSPIN TO5 phantom (1.5 T, 20 °C only).

    T1 comes from the T1 file and T2 from the T2 file (as MR-BIAS reads them; the two
    shipped files are identical).  The nearest temperature (20 °C) is used within
    ``temperature_tolerance_c``.
    """
    field = _nominal_field(field_strength_t, EUROSPIN_FIELDS_T, "EUROSPIN TO5")
    t1_table, t1_source, t1_vials = _eurospin_table(field, "T1")
    t2_table, t2_source, t2_vials = _eurospin_table(field, "T2")
    t2_rows = dict(zip(t2_vials, t2_table.rows, strict=True))
    values = []
    for vial, t1_row in sorted(zip(t1_vials, t1_table.rows, strict=True)):
        t1, temp, method, note = _at_temperature(
            [t1_row], float(temperature_c), "nearest", temperature_tolerance_c, t1_source
        )
        t2, _, _, _ = _at_temperature(
            [t2_rows[vial]], float(temperature_c), "nearest", temperature_tolerance_c, t2_source
        )
        values.append(
            ReferenceValue(
                sphere=vial,
                t1_ms=float(t1["t1_ms"]),
                t1_sd_ms=t1["t1_sd_ms"],
                t2_ms=float(t2["t2_ms"]),
                t2_sd_ms=t2["t2_sd_ms"],
                concentration_mm=None,
                field_strength_t=t1_row["field_t"],
                temperature_c=temp,
                temperature_method=method,
                source=f"{t1_source} (T1), {t2_source} (T2)",
                phantom="eurospin",
                plate="TO5",
                batch="batch1",
                note=note,
            )
        )
    return values


def eurospin_reference_sets() -> list[ReferenceSet]:
    """The available EUROSPIN TO5 reference sets (one: 1.5 T, 20 °C)."""
    table, source, _ = _eurospin_table(1.5, "T1")
    temps = tuple(sorted({row["temperature_c"] for row in table.rows}))
    return [
        ReferenceSet(
            "eurospin",
            "batch1",
            1.5,
            "TO5",
            temps,
            source,
            "EUROSPIN TO5 relaxation test object, 18 vials",
        )
    ]


def fit_initial_values(
    phantom: str = "nist", field_strength_t: float = 1.5, plate: str = "T1"
) -> list[tuple[int, float]]:
    """MR-BIAS's curve-fit starting guesses (NOT reference values): (sphere, ms) pairs.

    ``plate`` says which time the file lists: T1 (``"T1"``) or T2 (``"T2"``).  For NIST,
    spheres are numbered by concentration as everywhere else; for EUROSPIN the
    concentration column holds the vial number.
    """
    phantom = str(phantom).lower()
    if phantom not in ("nist", "eurospin"):
        raise ValueError(f"unknown phantom {phantom!r}; choose 'nist' or 'eurospin'")
    plate = normalise_plate(plate)
    fields = NIST_FIELDS_T if phantom == "nist" else EUROSPIN_FIELDS_T
    field = _nominal_field(field_strength_t, fields, f"{phantom} curve-fit")
    source = _FIT_INIT_FILES[(phantom, field, plate)]
    table = parse_reference_csv(resource_path(source))
    key = "t1_ms" if plate == "T1" else "t2_ms"
    if phantom == "nist":
        numbers = _sphere_numbers(table, NIST_SPHERES)
    else:
        numbers = [int(row["concentration_mm"]) for row in table.rows]
    return sorted((n, float(row[key])) for n, row in zip(numbers, table.rows, strict=True))
