"""Screenshots of the main workflows, for the README: ``python -m app.screenshots OUTDIR``.

Drives the real window offscreen, as a user would, with the real methods on the
simulated demo scans (made on first use and kept in the user's data folder, as the
application does; dictionaries come from and go to the user's cache):

1. ``first_screen.png`` – the screen the application opens on.
2. ``brain_maps.png`` – the demo brain scan after ``--demo``'s quick preview and default
   methods (LRTV + dictionary matching), with ROIs on white matter, grey matter and a
   ventricle, their statistics, and the crosshair readout on white matter.
3. ``nist_rois.png`` – the demo NIST phantom, run again on the log-spaced dictionary
   grid (which covers every sphere's T1 and T2), an ROI on each sphere and the ROI
   statistics table.
4. ``bland_altman.png`` – that run's T1 against the phantom's published reference values
   (NIST batch 1, T1 plate, 20 °C), per sphere, in percent.

Every run is computed here; nothing is drawn from stored results.  The first time, the
demo scans are simulated and the dictionaries built: a few minutes on a laptop CPU.
The recent-files list is emptied on screen so that no personal paths appear.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["main"]

WINDOW_SIZE = (1400, 880)
"""Pixels; a common laptop screen, small enough for the README."""
RUN_TIMEOUT_S = 1800.0


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout_s:.0f} s")
        QApplication.processEvents()
        time.sleep(0.02)


def _settle(seconds: float = 0.3) -> None:
    """Let timers (statistics, plots) fire and the widgets repaint."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def _wait_for_job(window, what: str) -> None:
    _wait_until(lambda: not window.runner.busy, RUN_TIMEOUT_S, what)
    _settle()
    if window.errors:
        title, message, _ = window.errors[-1]
        raise RuntimeError(f"{what}: {title}: {message}")


def _save(window, folder: Path, name: str) -> Path:
    from PySide6.QtGui import QImage

    _settle()
    image = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    path = folder / name
    if not image.save(str(path), "PNG", 0):  # 0: the strongest (lossless) compression
        raise OSError(f"could not write {path}")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)", flush=True)
    return path


def _open_demo_and_run(window, name: str) -> None:
    """Open a demo scan and run the quick preview, then the default methods."""
    window.open_demo(name, run_after=True)
    _wait_until(lambda: len(window.model.runs) >= 1, RUN_TIMEOUT_S, f"the {name} preview")
    _wait_until(
        lambda: len(window.model.runs) >= 2 and not window.runner.busy,
        RUN_TIMEOUT_S,
        f"the default methods on the {name} scan",
    )
    _wait_for_job(window, f"the {name} demo")


def _voxel_of(geometry, x_mm: float, y_mm: float) -> tuple[float, float]:
    """View (voxel) coordinates of a point given in the phantom's mm (centre origin)."""
    nx, ny = geometry.matrix[:2]
    dx, dy = geometry.voxel_size_mm[:2]
    return nx / 2 + x_mm / dx, ny / 2 + y_mm / dy


def _choose_preset(view, preset: str) -> None:
    """Pick a display-window preset from the view's list, as a user does."""
    index = view.preset.findText(preset)
    if index < 0:
        raise ValueError(f"the {view.name} view has no window preset {preset!r}")
    view.preset.setCurrentIndex(index)
    view.preset.activated.emit(index)


def _zoom(window, centre: tuple[float, float], half_width: float) -> None:
    """Show the square of ``2 * half_width`` voxels around ``centre`` in every view."""
    (cx, cy), h = centre, half_width
    for view in window.map_panel.views.values():
        view.viewbox.disableAutoRange()  # a linked view must not re-fit the others
        view.viewbox.setRange(xRange=(cx - h, cx + h), yRange=(cy - h, cy + h), padding=0)


def _region_centre(mask, near: tuple[float, float], radius: int) -> tuple[float, float]:
    """View coordinates of the voxel of ``mask`` nearest ``near`` whose disc of
    ``radius`` voxels lies inside ``mask`` (an ROI circle of radius ``radius + 0.5``
    around it then holds only ``mask`` voxels)."""
    import numpy as np
    from scipy.ndimage import binary_erosion

    offsets = np.arange(-radius, radius + 1)
    disc = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= (radius + 0.5) ** 2
    inside = binary_erosion(mask, structure=disc)
    candidates = np.argwhere(inside)
    if not candidates.size:
        raise ValueError(f"no disc of radius {radius} voxels fits in the region")
    x, y = candidates[np.argmin(((candidates - np.asarray(near)) ** 2).sum(axis=1))]
    return float(x + 0.5), float(y + 0.5)


def _brain(window, folder: Path) -> None:
    from mrfcore.analysis import ROI

    _open_demo_and_run(window, "brain")
    truth = window.model.input.data.ground_truth
    mask = window.model.current_run.maps.mask
    nx, ny = truth.labels.shape
    # ROIs on white matter, cortical grey matter and a ventricle (BrainWeb labels 3, 2,
    # 1), placed from the phantom's labels as a user would place them by eye.
    rois = []
    for label, name, near, radius, colour in (
        (3, "white matter", (0.3 * nx, 0.72 * ny), 4, "#ffcc00"),
        (2, "grey matter", (0.3 * nx, 0.3 * ny), 1, "#00e5ff"),
        (1, "ventricle", (0.5 * nx, 0.5 * ny), 2, "#ff4fd8"),
    ):
        centre = _region_centre((truth.labels == label) & mask, near, radius)
        rois.append(ROI.circle(name, centre, radius + 0.5, colour=colour))
    window.model.set_rois(rois)
    window.roi_panel.update_statistics()
    _zoom(window, (nx / 2, ny / 2), 0.4 * nx)  # the head fills the views
    # The brain windows a radiographer would pick (the automatic one includes CSF).
    for map_name, preset in (("T1", "Brain 0–2000 ms"), ("T2", "Brain 0–150 ms")):
        _choose_preset(window.map_panel.views[map_name], preset)
    # The crosshair on white matter away from the ROIs: the readout lists every map.
    x, y = _region_centre((truth.labels == 3) & mask, (0.62 * nx, 0.62 * ny), 2)
    window.map_panel.show_readout(x, y)
    _save(window, folder, "brain_maps.png")


def _nist(window, folder: Path) -> None:
    from app.bland_altman import REFERENCE
    from mrfcore.analysis import ROI
    from mrfcore.phantoms.nist import SPHERE_RADIUS_MM, nist_sphere_centres_mm

    window.model.clear_runs()
    window.model.set_rois([])
    _open_demo_and_run(window, "nist")
    # Spheres 1–4 have T2 above the paper grid's 600 ms and spheres 11–14 T1 below its
    # 100 ms: a phantom check runs again on the log-spaced grid, which covers them all.
    window.method_panel.set_grid("log")
    window.run_methods()
    _wait_for_job(window, "LRTV + DM on the log grid")
    geometry = window.model.current_run.maps.geometry
    # ROIs well inside each sphere (70 % of its radius), named by sphere number so that
    # reference values can be filled from the published table.
    radius = 0.7 * SPHERE_RADIUS_MM / geometry.voxel_size_mm[0]
    rois = [
        ROI.circle(f"sphere {number}", _voxel_of(geometry, x, y), radius, colour="#ffcc00")
        for number, (x, y) in enumerate(nist_sphere_centres_mm(), start=1)
    ]
    window.model.set_rois(rois)
    window.roi_panel.update_statistics()
    # The spheres sit within 60 mm of the centre: zoom to them; windows that hold every
    # sphere's T1 (20–2000 ms) and T2 (20–1700 ms), typed as a user would.
    _zoom(window, _voxel_of(geometry, 0.0, 0.0), 64.0 / geometry.voxel_size_mm[0])
    window.model.set_levels("T1", (0.0, 2200.0))
    window.model.set_levels("T2", (0.0, 1800.0))
    window.map_panel.show_readout(None, None)
    window.model.select_roi(next(iter(window.model.rois)))
    _save(window, folder, "nist_rois.png")

    # The agreement of the measured T1 with the phantom's published values.
    window.tabs.setCurrentWidget(window.compare_panel)
    panel = window.compare_panel
    panel.measured_combo.setCurrentIndex(panel.measured_combo.findData(window.model.current_run_id))
    panel.reference_combo.setCurrentIndex(panel.reference_combo.findData(REFERENCE))
    recipe = window.model.input.data.metadata.get("recipe") or {}
    field = float(recipe.get("field_strength_t", 1.5))
    sets = [panel.set_combo.itemData(i) for i in range(panel.set_combo.count())]
    chosen = next(
        i
        for i, item in enumerate(sets)
        if item.batch == "batch1" and item.field_strength_t == field and item.plate == "T1"
    )
    panel.set_combo.setCurrentIndex(chosen)
    panel.fill_from_table()
    panel.map_combo.setCurrentText("T1")
    panel.difference_combo.setCurrentIndex(1)  # percentages: spheres span 20–2000 ms
    if panel.recompute() is None:
        raise RuntimeError(f"the comparison failed: {panel.results.text()}")
    _save(window, folder, "bland_altman.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.screenshots", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("outdir", type=Path, help="folder for the PNG files")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["mrf-studio"])
    app.setApplicationName("MRF Studio")
    pg.setConfigOptions(imageAxisOrder="col-major", antialias=True)
    from app.main_window import MainWindow

    window = MainWindow(warm_up=False)
    window.resize(*WINDOW_SIZE)
    window.show()
    _wait_until(lambda: window.method_panel.populated, 60, "the method list")
    window.first_screen.set_recent([])  # the user's own files stay out of the pictures
    try:
        _save(window, args.outdir, "first_screen.png")
        _brain(window, args.outdir)
        _nist(window, args.outdir)
    finally:
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
