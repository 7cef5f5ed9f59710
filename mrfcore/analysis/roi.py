"""Regions of interest: geometry → voxel masks → statistics.

Coordinates are continuous voxel coordinates (x, y): voxel (i, j) covers
[i, i+1) × [j, j+1), so its centre is (i + 0.5, j + 0.5) — the convention of
pyqtgraph's ImageItem, so a GUI handle maps to geometry without offsets.  A voxel
belongs to an ROI when its centre lies inside.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrfcore.io.atomic import atomic_write_text

if TYPE_CHECKING:
    from mrfcore.data import QuantitativeMaps

ROI_KINDS = ("rectangle", "ellipse", "polygon")


@dataclass
class ROI:
    """A named region of interest.

    Attributes
    ----------
    name
        Shown in tables and plots.
    kind
        ``"rectangle"``, ``"ellipse"`` or ``"polygon"``.
    points
        float (P, 2) in voxel coordinates (x, y).  Rectangle and ellipse: the four
        corners of the (possibly rotated) bounding box, in order around it; polygon:
        its vertices.
    colour
        ``"#rrggbb"``.
    slice_index
        The slice of 3D data the ROI is drawn on; ``None`` for 2D data.
    """

    name: str
    kind: str
    points: np.ndarray
    colour: str = "#ffcc00"
    slice_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
        if self.kind not in ROI_KINDS:
            raise ValueError(
                f"ROI {self.name!r}: kind must be one of {ROI_KINDS}, got {self.kind!r}"
            )
        if self.kind in ("rectangle", "ellipse") and len(self.points) != 4:
            raise ValueError(f"ROI {self.name!r}: a {self.kind} needs its 4 corners")
        if self.kind == "polygon" and len(self.points) < 3:
            raise ValueError(f"ROI {self.name!r}: a polygon needs at least 3 vertices")

    @classmethod
    def box(
        cls,
        name: str,
        kind: str,
        centre: tuple[float, float],
        size: tuple[float, float],
        angle_deg: float = 0.0,
        **kwargs: Any,
    ) -> ROI:
        """A rectangle or ellipse from centre, full size (width, height) and rotation."""
        angle = np.deg2rad(angle_deg)
        u = np.array([np.cos(angle), np.sin(angle)]) * size[0] / 2
        v = np.array([-np.sin(angle), np.cos(angle)]) * size[1] / 2
        c = np.asarray(centre, dtype=np.float64)
        return cls(name, kind, np.array([c - u - v, c + u - v, c + u + v, c - u + v]), **kwargs)

    @classmethod
    def circle(cls, name: str, centre: tuple[float, float], radius: float, **kwargs: Any) -> ROI:
        return cls.box(name, "ellipse", centre, (2 * radius, 2 * radius), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["points"] = self.points.tolist()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ROI:
        return cls(**values)


def _centres(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.meshgrid(np.arange(shape[0]) + 0.5, np.arange(shape[1]) + 0.5, indexing="ij")
    return x, y


def _inside_polygon(x: np.ndarray, y: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    # Even-odd rule by ray casting, vectorised over voxels.
    inside = np.zeros(x.shape, dtype=bool)
    n = len(vertices)
    for i in range(n):
        x0, y0 = vertices[i]
        x1, y1 = vertices[(i + 1) % n]
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_cross)
    return inside


def roi_mask(roi: ROI, shape: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of the voxels whose centres lie inside ``roi``.

    Parameters
    ----------
    shape
        (nx, ny) or (nx, ny, nz); for 3D the ROI covers ``roi.slice_index`` only.
    """
    in_plane = tuple(shape[:2])
    x, y = _centres(in_plane)
    if roi.kind == "polygon":
        mask = _inside_polygon(x, y, roi.points)
    else:
        p0, p1, _, p3 = roi.points
        centre = roi.points.mean(axis=0)
        u, v = (p1 - p0) / 2, (p3 - p0) / 2
        lu, lv = np.linalg.norm(u), np.linalg.norm(v)
        if lu == 0 or lv == 0:
            mask = np.zeros(in_plane, dtype=bool)
        else:
            a = ((x - centre[0]) * u[0] + (y - centre[1]) * u[1]) / lu**2
            b = ((x - centre[0]) * v[0] + (y - centre[1]) * v[1]) / lv**2
            mask = (a**2 + b**2 <= 1) if roi.kind == "ellipse" else (abs(a) <= 1) & (abs(b) <= 1)
    if len(shape) == 2:
        return mask
    volume = np.zeros(shape, dtype=bool)
    volume[:, :, roi.slice_index or 0] = mask
    return volume


@dataclass(frozen=True)
class RoiStatistics:
    """Summary of the finite values inside an ROI (SD with n−1; quartiles linear)."""

    n: int
    mean: float
    sd: float
    median: float
    q1: float
    q3: float
    iqr: float
    minimum: float
    maximum: float
    cv_percent: float


def roi_statistics(values: np.ndarray, mask: np.ndarray) -> RoiStatistics:
    """Statistics of ``values[mask]``, ignoring NaN (voxels outside a method's mask)."""
    selected = np.asarray(values, dtype=np.float64)[mask]
    selected = selected[np.isfinite(selected)]
    n = int(selected.size)
    if n == 0:
        nan = float("nan")
        return RoiStatistics(0, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    mean = float(selected.mean())
    sd = float(selected.std(ddof=1)) if n > 1 else float("nan")
    q1, median, q3 = (float(q) for q in np.percentile(selected, [25, 50, 75]))
    cv = 100 * sd / abs(mean) if mean != 0 and n > 1 else float("nan")
    return RoiStatistics(
        n, mean, sd, median, q1, q3, q3 - q1, float(selected.min()), float(selected.max()), cv
    )


def statistics_table(maps: QuantitativeMaps, rois: list[ROI]) -> list[dict[str, Any]]:
    """One row per (ROI, map): roi, map, unit and every :class:`RoiStatistics` field."""
    rows = []
    for roi in rois:
        mask = roi_mask(roi, maps.geometry.matrix)
        for name, (values, unit) in maps.maps().items():
            stats = roi_statistics(values, mask)
            rows.append({"roi": roi.name, "map": name, "unit": unit, **asdict(stats)})
    return rows


def write_statistics_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write :func:`statistics_table` rows as CSV (atomically)."""
    import io

    path = Path(path)
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    atomic_write_text(path, buffer.getvalue())
    return path


def save_rois(path: str | Path, rois: list[ROI]) -> Path:
    """Save an ROI set as JSON."""
    path = Path(path)
    atomic_write_text(
        path,
        json.dumps(
            {"format": "mrf-studio-rois", "version": 1, "rois": [r.to_dict() for r in rois]},
            indent=1,
        ),
    )
    return path


def load_rois(path: str | Path) -> list[ROI]:
    """Load an ROI set saved by :func:`save_rois`; errors name the file."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if content.get("format") != "mrf-studio-rois":
            raise ValueError("not an MRF Studio ROI file")
        return [ROI.from_dict(item) for item in content["rois"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: cannot read ROIs: {error}") from None
