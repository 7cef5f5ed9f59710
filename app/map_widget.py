"""One map on screen: header (name, window preset, colour map, low/high) and the image.

See :mod:`app.map_view` for the display convention (arrays ``[x, y]``, x to the right,
y up, voxel (i, j) covering [i, i+1) × [j, j+1)).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.colormaps import COLORMAP_NAMES, colormap

__all__ = ["AUTO", "FULL", "MANUAL", "MapView", "auto_levels", "format_value", "level_presets"]

AUTO = "Auto (1–99 %)"
FULL = "Full range"
MANUAL = "Manual"


def level_presets(map_name: str, unit: str) -> dict[str, tuple[float, float] | None]:
    """Window presets offered for a map: name → (low, high) in the map's unit.

    ``None`` means computed from the data (``AUTO``: 1st–99th percentile, ``FULL``:
    minimum–maximum of the finite values).
    """
    presets: dict[str, tuple[float, float] | None] = {AUTO: None, FULL: None}
    if map_name == "T1":
        presets |= {
            "Brain 0–2000 ms": (0.0, 2000.0),
            "Brain + CSF 0–4500 ms": (0.0, 4500.0),
            "Phantom 0–3000 ms": (0.0, 3000.0),
        }
    elif map_name == "T2":
        presets |= {
            "Brain 0–150 ms": (0.0, 150.0),
            "Brain + CSF 0–2000 ms": (0.0, 2000.0),
            "Phantom 0–600 ms": (0.0, 600.0),
        }
    elif map_name == "PD" or unit == "a.u.":
        presets |= {"0–1": (0.0, 1.0)}
    return presets


def auto_levels(values: np.ndarray, full: bool = False) -> tuple[float, float]:
    """Display window from the finite values (percentiles 1–99, or min–max)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    if finite.size > 200_000:  # a window needs no more precision than this
        finite = finite[:: finite.size // 200_000 + 1]
    low, high = (
        (float(finite.min()), float(finite.max()))
        if full
        else tuple(float(v) for v in np.percentile(finite, [1, 99]))
    )
    if not high > low:
        high = low + (abs(low) * 0.1 or 1.0)
    return low, high


def format_value(value: float, unit: str) -> str:
    """``1234 ms``, ``85.2 ms``, ``0.812 a.u.``; ``—`` for NaN (outside the mask)."""
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


class MapView(QWidget):
    """One map: a header (name, window preset, low/high, colour map) and the image.

    Signals
    -------
    levels_edited(name, low, high)
        The user changed the window (spin boxes, preset or colour-bar handles).
    levels_reset(name)
        The user chose the automatic window.
    colormap_edited(name, colormap)
    """

    levels_edited = Signal(str, float, float)
    levels_reset = Signal(str)
    colormap_edited = Signal(str, str)

    def __init__(self, name: str, unit: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.unit = unit
        self.values: np.ndarray | None = None  # the 2D slice shown, indexed [x, y]
        self._updating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)

        header = QHBoxLayout()
        self.title = QLabel(f"<b>{name}</b>" + (f" ({unit})" if unit else ""))
        self.preset = QComboBox()
        self.preset.setObjectName(f"preset_{name}")
        self.preset.setToolTip("Display window: automatic, full range, or a preset")
        self.preset.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.preset.setMinimumContentsLength(14)  # "Brain 0–2000 ms" in full
        self.low = QDoubleSpinBox()
        self.high = QDoubleSpinBox()
        for box, what in ((self.low, "lowest"), (self.high, "highest")):
            box.setRange(-1e9, 1e9)
            box.setDecimals(3 if unit == "a.u." or not unit else 0)
            box.setKeyboardTracking(False)
            box.setToolTip(f"Window: the {what} value shown (first / last colour)")
            box.setMaximumWidth(80)
            box.setButtonSymbols(QDoubleSpinBox.ButtonSymbols.NoButtons)
            box.valueChanged.connect(self._spin_changed)
        self.colormap_combo = QComboBox()
        self.colormap_combo.setObjectName(f"colormap_{name}")
        self.colormap_combo.addItems(list(COLORMAP_NAMES))
        self.colormap_combo.setToolTip("Colour map")
        self.colormap_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.colormap_combo.setMinimumContentsLength(6)
        self.colormap_combo.currentTextChanged.connect(self._colormap_chosen)
        self.extra_header = QHBoxLayout()
        header.addWidget(self.title)
        header.addLayout(self.extra_header)
        header.addStretch(1)
        header.addWidget(self.preset)
        header.addWidget(self.colormap_combo)
        window_row = QHBoxLayout()
        window_row.addStretch(1)
        window_row.addWidget(QLabel("Window"))
        window_row.addWidget(self.low)
        window_row.addWidget(QLabel("–"))
        window_row.addWidget(self.high)
        layout.addLayout(header)
        layout.addLayout(window_row)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(220, 200)
        self.viewbox = self.graphics.addViewBox(row=0, col=0, lockAspect=True)
        self.viewbox.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.viewbox.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            label=f"{name} ({unit})" if unit else name,
            interactive=True,
            colorMapMenu=False,
            rounding=1e-6,
            width=16,
        )
        self.colorbar.setImageItem(self.image)
        self.graphics.addItem(self.colorbar, row=0, col=1)
        self.colorbar.sigLevelsChanged.connect(self._colorbar_dragging)
        self.colorbar.sigLevelsChangeFinished.connect(self._colorbar_dragged)
        dash = pg.mkPen((255, 255, 255, 150), width=1, style=Qt.PenStyle.DashLine)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=dash)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=dash)
        for line in (self.vline, self.hline):
            line.setZValue(20)
            line.hide()
            self.viewbox.addItem(line, ignoreBounds=True)
        layout.addWidget(self.graphics, 1)
        self.preset.activated.connect(self._preset_chosen)
        self._presets: dict[str, tuple[float, float] | None] = {}
        self.set_presets(level_presets(name, unit))

    # -- data ---------------------------------------------------------------------------
    def set_values(self, values: np.ndarray | None) -> None:
        """Show a 2D slice ``values[x, y]`` (NaN voxels are transparent)."""
        self.values = values
        if values is None:
            self.image.clear()
            return
        first = self.image.image is None or self.image.image.shape != values.shape
        self.image.setImage(values, autoLevels=False, levels=self.colorbar.levels())
        if first:
            self.viewbox.autoRange(padding=0.02)

    def set_presets(self, presets: dict[str, tuple[float, float] | None]) -> None:
        self._presets = dict(presets)
        self.preset.clear()
        self.preset.addItems([*presets, MANUAL])

    def set_levels(self, low: float, high: float, preset: str | None) -> None:
        """Show the window (low, high); ``preset`` names the matching preset if any."""
        self._updating = True
        try:
            self.colorbar.setLevels((low, high))
            self.low.setValue(low)
            self.high.setValue(high)
            self.preset.setCurrentText(preset if preset in self._presets else MANUAL)
        finally:
            self._updating = False

    def set_colormap(self, name: str) -> None:
        self._updating = True
        try:
            self.colorbar.setColorMap(colormap(name))
            self.colormap_combo.setCurrentText(name)
        finally:
            self._updating = False

    def levels(self) -> tuple[float, float]:
        low, high = self.colorbar.levels()
        return float(low), float(high)

    def set_crosshair(self, x: float | None, y: float | None) -> None:
        if x is None or y is None:
            self.vline.hide()
            self.hline.hide()
            return
        self.vline.setPos(x)
        self.hline.setPos(y)
        self.vline.show()
        self.hline.show()

    def value_at(self, ix: int, iy: int) -> float | None:
        if self.values is None:
            return None
        if 0 <= ix < self.values.shape[0] and 0 <= iy < self.values.shape[1]:
            return float(self.values[ix, iy])
        return None

    # -- user edits ---------------------------------------------------------------------
    def _preset_chosen(self, index: int) -> None:
        text = self.preset.itemText(index)
        if text == MANUAL:
            return
        window = self._presets.get(text)
        if text == AUTO:
            self.levels_reset.emit(self.name)
        elif window is None:  # full range
            if self.values is not None:
                low, high = auto_levels(self.values, full=True)
                self.levels_edited.emit(self.name, low, high)
        else:
            self.levels_edited.emit(self.name, *window)

    def _spin_changed(self) -> None:
        if self._updating:
            return
        low, high = self.low.value(), self.high.value()
        if high > low:
            self.levels_edited.emit(self.name, low, high)

    def _colorbar_dragging(self) -> None:
        if self._updating:
            return
        low, high = self.levels()
        self._updating = True
        try:
            self.low.setValue(low)
            self.high.setValue(high)
            self.preset.setCurrentText(MANUAL)
        finally:
            self._updating = False

    def _colorbar_dragged(self) -> None:
        if not self._updating:
            low, high = self.levels()
            if high > low:
                self.levels_edited.emit(self.name, low, high)

    def _colormap_chosen(self, name: str) -> None:
        if not self._updating:
            self.colormap_edited.emit(self.name, name)
