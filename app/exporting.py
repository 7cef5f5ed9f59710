"""Saving what is on screen: widgets as PNG (pixels) or SVG (vector where Qt can)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QWidget

from mrfcore.io.atomic import atomic_path

__all__ = ["IMAGE_FILTERS", "save_widget"]

IMAGE_FILTERS = "PNG image (*.png);;SVG drawing (*.svg)"


def save_widget(widget: QWidget, path: str | Path) -> Path:
    """Save ``widget`` as it looks now; the suffix (``.png`` or ``.svg``) picks the format.

    Raises
    ------
    ValueError
        For another suffix, or when the image cannot be written (naming the file).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"{path}: choose a .png or .svg file name")
    with atomic_path(path) as temporary:
        if suffix == ".png":
            if not widget.grab().save(str(temporary), "PNG"):
                raise ValueError(f"{path}: the PNG image could not be written")
        else:
            from PySide6.QtSvg import QSvgGenerator

            generator = QSvgGenerator()
            generator.setFileName(str(temporary))
            generator.setSize(QSize(widget.width(), widget.height()))
            generator.setViewBox(QRect(0, 0, widget.width(), widget.height()))
            generator.setTitle("MRF Studio")
            painter = QPainter(generator)
            try:
                widget.render(painter, QPoint(0, 0))
            finally:
                painter.end()
    return path
