"""Draggable pyqtgraph shapes for :class:`mrfcore.analysis.ROI`, and nothing more.

The widget only translates handles into geometry: the points of an ROI are in the
coordinates of the view box that holds the image, which are voxel coordinates because
the image item is placed with voxel (i, j) covering [i, i+1) × [j, j+1) – the
convention of :mod:`mrfcore.analysis.roi`.  Masks and statistics are computed there.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

if TYPE_CHECKING:
    from mrfcore.analysis import ROI

__all__ = ["make_shape", "shape_points", "update_shape"]


class _BoxShape(pg.ROI):
    """A rectangle with corner and side handles and a rotation handle."""

    def __init__(self, pos, size, **kwargs) -> None:
        super().__init__(pos, size, **kwargs)
        for corner, anchor in (
            ([1, 1], [0, 0]),
            ([0, 0], [1, 1]),
            ([1, 0], [0, 1]),
            ([0, 1], [1, 0]),
        ):
            self.addScaleHandle(corner, anchor)
        self.addScaleHandle([1, 0.5], [0, 0.5])
        self.addScaleHandle([0.5, 1], [0.5, 0])
        self.addRotateHandle([0.5, 1.15], [0.5, 0.5])


class _EllipseShape(pg.EllipseROI):
    """An ellipse with a handle per axis, a proportional-size handle and a rotation handle."""

    def _addHandles(self) -> None:
        self.addScaleHandle([0.5 * 2.0**-0.5 + 0.5, 0.5 * 2.0**-0.5 + 0.5], [0.5, 0.5])
        self.addScaleHandle([1, 0.5], [0.5, 0.5])
        self.addScaleHandle([0.5, 1], [0.5, 0.5])
        self.addRotateHandle([0, 0.5], [0.5, 0.5])


def _box_state(points: np.ndarray) -> dict:
    """pos, size, angle of a pyqtgraph box from the 4 corners of a (rotated) box."""
    p0, p1, _, p3 = (np.asarray(p, dtype=float) for p in points)
    u, v = p1 - p0, p3 - p0
    if u[0] * v[1] - u[1] * v[0] < 0:
        # Corners listed clockwise: walk them the other way so the box is not mirrored.
        u, v = v, u
    return {
        "pos": pg.Point(float(p0[0]), float(p0[1])),
        "size": pg.Point(max(float(np.hypot(*u)), 1e-3), max(float(np.hypot(*v)), 1e-3)),
        "angle": math.degrees(math.atan2(u[1], u[0])),
    }


def _pens(colour: str, selected: bool) -> tuple:
    width = 3 if selected else 2
    return pg.mkPen(colour, width=width), pg.mkPen(colour, width=width + 1)


def make_shape(roi: ROI, selected: bool = False) -> pg.ROI:
    """A new draggable shape drawing ``roi`` (add it to the view box holding the image)."""
    pen, hover = _pens(roi.colour, selected)
    if roi.kind == "polygon":
        shape = pg.PolyLineROI([tuple(p) for p in roi.points], closed=True, pen=pen, hoverPen=hover)
    else:
        state = _box_state(roi.points)
        cls = _EllipseShape if roi.kind == "ellipse" else _BoxShape
        shape = cls(state["pos"], state["size"], pen=pen, hoverPen=hover)
        shape.setAngle(state["angle"], update=False)
    shape.setAcceptedMouseButtons(pg.QtCore.Qt.MouseButton.LeftButton)
    # Centred above the shape: neighbouring ROIs (phantom vials) keep their labels apart.
    # A dark backing keeps the name readable on bright map values.
    label = pg.TextItem(roi.name, color=roi.colour, anchor=(0.5, 1), fill=(0, 0, 0, 150))
    label.setParentItem(shape)
    shape.name_label = label
    shape.roi_kind = roi.kind
    _place_label(shape)
    return shape


def _place_label(shape: pg.ROI) -> None:
    if shape.roi_kind == "polygon":
        handles = shape.getHandles()
        if handles:
            tops = [h.pos() for h in handles]
            shape.name_label.setPos(min(tops, key=lambda p: (-p.y(), p.x())))
    else:
        width, height = shape.size()
        shape.name_label.setPos(width / 2, height)


def shape_points(shape: pg.ROI) -> np.ndarray:
    """The ROI geometry of ``shape``: float (P, 2) points in its parent's coordinates."""
    if shape.roi_kind == "polygon":
        local = [handle.pos() for handle in shape.getHandles()]
    else:
        width, height = shape.size()
        local = [QPointF(0, 0), QPointF(width, 0), QPointF(width, height), QPointF(0, height)]
    points = [shape.mapToParent(point) for point in local]
    return np.array([[p.x(), p.y()] for p in points], dtype=np.float64)


def update_shape(shape: pg.ROI, roi: ROI, selected: bool = False) -> None:
    """Make ``shape`` draw ``roi`` (without emitting its change signals)."""
    shape.blockSignals(True)
    try:
        if roi.kind == "polygon":
            current = shape_points(shape)
            if current.shape != roi.points.shape or not np.allclose(current, roi.points):
                shape.setPos(pg.Point(0, 0), update=False)
                shape.setAngle(0, update=False)
                shape.setPoints([tuple(p) for p in roi.points], closed=True)
        else:
            shape.setState(_box_state(roi.points), update=True)
        pen, hover = _pens(roi.colour, selected)
        shape.setPen(pen)
        shape.hoverPen = hover
        if roi.kind == "polygon":
            for segment in shape.segments:
                segment.setPen(pen)
        shape.name_label.setText(roi.name)
        shape.name_label.setColor(roi.colour)
        _place_label(shape)
    finally:
        shape.blockSignals(False)
