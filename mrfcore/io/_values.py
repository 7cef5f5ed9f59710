"""Units of stored values: relaxation times (ms or s) and phase (radians).

Shared by the DICOM and NIfTI readers.  Files rarely say what their numbers mean, so
each function takes the declared unit when there is one and otherwise applies a
documented heuristic, returning a note saying which rule decided.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SECONDS_MEDIAN_LIMIT",
    "guess_time_unit",
    "normalise_time_unit",
    "phase_to_radians",
    "time_factor_to_ms",
]

SECONDS_MEDIAN_LIMIT = 10.0
"""A relaxation-time map whose positive values have a median below this is taken to be in
seconds.  Tissue T1 is 200–5000 ms (0.2–5 s) and T2 20–2000 ms (0.02–2 s), so a median
below 10 is implausible for milliseconds and plausible for seconds."""

_TIME_UNITS = {
    "ms": "ms",
    "msec": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
    "s": "s",
    "sec": "s",
    "second": "s",
    "seconds": "s",
    "us": "us",
    "usec": "us",
    "microsecond": "us",
    "microseconds": "us",
}
_FACTORS_TO_MS = {"ms": 1.0, "s": 1000.0, "us": 1e-3}


def normalise_time_unit(text: object) -> str | None:
    """``'ms'``, ``'s'`` or ``'us'`` for a unit string (UCUM code or words), else None.

    UCUM annotations such as ``ms{T1}`` are accepted.
    """
    if text is None:
        return None
    word = str(text).strip().lower()
    word = word.split("{", 1)[0].strip()
    return _TIME_UNITS.get(word)


def time_factor_to_ms(unit: str) -> float:
    """Multiplier that turns values in ``unit`` ('ms', 's', 'us') into milliseconds."""
    try:
        return _FACTORS_TO_MS[unit]
    except KeyError:
        raise ValueError(
            f"unknown time unit {unit!r}; expected one of {sorted(_FACTORS_TO_MS)}"
        ) from None


def guess_time_unit(values: np.ndarray) -> tuple[str, str]:
    """Decide between ms and s from the values of a relaxation-time map.

    Returns
    -------
    unit, note
        ``'ms'`` or ``'s'`` and a sentence saying why.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size == 0:
        return "ms", "no positive values; assumed ms"
    median = float(np.median(finite))
    if median < SECONDS_MEDIAN_LIMIT:
        return "s", f"median of positive values {median:.3g} < {SECONDS_MEDIAN_LIMIT:g}: seconds"
    return "ms", f"median of positive values {median:.3g} ≥ {SECONDS_MEDIAN_LIMIT:g}: milliseconds"


def phase_to_radians(
    values: np.ndarray,
    unit: str | None = None,
    representable: tuple[float, float, float] | None = None,
    bits_stored: int | None = None,
) -> tuple[np.ndarray, str]:
    """Phase images in radians.

    Rules, first match wins:

    1. a declared ``unit`` ('rad', 'deg', 'mrad');
    2. values already within ±π (1 ‰ slack): radians;
    3. 12-bit stored values (Siemens: 0…4095, rescaled to −4096…4094): the representable
       range maps onto [−π, π);
    4. values within ±1000π (1 ‰ slack): milliradians (GE, some research tools);
    5. otherwise the representable range of the stored integers (after rescale) maps onto
       [−π, π).

    Parameters
    ----------
    values
        Phase values after the modality rescale, any shape.
    unit
        Unit declared by the file, if any.
    representable
        (lowest, highest, step): the values the stored integers can take after rescale
        (step is the rescale slope).
    bits_stored
        BitsStored of the source images, if known.
    """
    values = np.asarray(values)
    values = values.astype(np.result_type(values.dtype, np.float32), copy=False)
    declared = (unit or "").strip().lower()
    if declared in ("rad", "radian", "radians"):
        return values, "phase unit declared as radians"
    if declared in ("deg", "degree", "degrees"):
        return np.deg2rad(values), "phase unit declared as degrees"
    if declared in ("mrad", "milliradian", "milliradians"):
        return values / 1000.0, "phase unit declared as milliradians"
    finite = values[np.isfinite(values)]
    largest = float(np.max(np.abs(finite))) if finite.size else 0.0
    if largest <= np.pi * 1.001:
        return values, "phase values within ±π: taken as radians"
    if representable is not None and (bits_stored == 12 or largest > 1000 * np.pi * 1.001):
        low, high, step = representable
        span = high - low + step
        if span > 0:
            return (values - low) * (2 * np.pi / span) - np.pi, (
                f"phase mapped from the representable range [{low:g}, {high:g}] to [−π, π)"
            )
    if largest <= 1000 * np.pi * 1.001:
        return values / 1000.0, "phase values within ±1000π: taken as milliradians"
    raise ValueError(
        f"cannot tell the unit of phase values up to {largest:g} (not radians, degrees, "
        "milliradians or a known integer range); give the phase scale explicitly"
    )
