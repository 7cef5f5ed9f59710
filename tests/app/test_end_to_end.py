"""The application end to end with the real methods on a small simulated scan.

A 48 × 48 ISMRM/NIST phantom scan (2 coils, a 200-frame inversion-recovery FISP
schedule, one spiral arm per frame) is simulated once and written as ISMRMRD; the tests
open it through the window like a user, run real reconstructions and dictionary
matching on the small "coarse" dictionary, and check what is shown against the run's
maps, against the phantom's ground truth, and against independent numpy computations.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.bland_altman import PER_VOXEL
from app.colormaps import lookup_table
from app.compute import compute_threads, configure_compute_threads
from app.map_widget import format_value
from app.roi_panel import STATS_COLUMNS

pytestmark = pytest.mark.slow  # 10–20 s on a shared 2-core CPU: a scan, a dictionary, 5 runs

N_FRAMES = 200
MATRIX = 48
FOV_MM = 150.0  # the spheres' rings fit; voxels of 3.1 mm, spheres ~6 voxels across
RUN_TIMEOUT_MS = 120_000
# Spheres whose reference T1 and T2 lie inside the coarse grid (T1 100–4000 ms, T2
# 20–600 ms), so that matching can find them; the others are clipped to the grid edge.
IN_GRID_SPHERES = (5, 6, 7, 8, 9)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """(path of the ISMRMRD scan, path of a truncated copy, its ground truth)."""
    from mrfcore.acquisition.scan import ScanRecipe, simulate_recipe
    from mrfcore.io.ismrmrd import write_ismrmrd
    from mrfcore.sequences import Sequence, write_sequence

    configure_compute_threads()  # as the application does before its own work
    folder = tmp_path_factory.mktemp("scan")
    frame = np.arange(N_FRAMES)
    flips = np.interp(frame, [0, 0.45 * N_FRAMES, 0.7 * N_FRAMES, N_FRAMES - 1], [1, 70, 1, 1])
    sequence = Sequence(
        flip_angle_deg=flips,
        tr_ms=np.full(N_FRAMES, 12.0),
        te_ms=0.46,
        ti_ms=18.0,
        readout="fisp",
        name="ir-ramp-200",
    )
    schedule = write_sequence(sequence, folder / "ir-ramp-200.csv")
    recipe = ScanRecipe(
        phantom="nist", sequence=str(schedule), matrix=MATRIX, fov_mm=FOV_MM, coils=2,
        snr=50.0, seed=7,
    )  # fmt: skip
    data = simulate_recipe(recipe)
    path = write_ismrmrd(data, folder / "nist_small.h5")
    truncated = folder / "nist_truncated.h5"
    content = path.read_bytes()
    truncated.write_bytes(content[: len(content) // 2])
    return path, truncated, data.ground_truth


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("dictionaries")


@pytest.fixture(autouse=True)
def _one_dictionary_cache(shared_cache, monkeypatch):
    # Every test of this module matches against the same dictionary: build it once.
    monkeypatch.setenv("MRF_STUDIO_CACHE", str(shared_cache))


@pytest.fixture
def real_window(qtbot):
    from app.main_window import MainWindow

    window = MainWindow(warm_up=False)
    window.run_list.confirm_delete = False
    qtbot.addWidget(window)
    window.resize(1500, 920)
    window.show()
    qtbot.waitUntil(lambda: window.method_panel.populated, timeout=10_000)
    yield window
    window.runner.cancel()
    window.runner.wait(30_000)


def _open(window, qtbot, path):
    with qtbot.waitSignal(window.runner.finished, timeout=30_000):
        assert window.open_path(str(path))


def _run(window, qtbot, reconstruction, inference="dm", grid="coarse"):
    panel = window.method_panel
    panel.reconstruction.select(reconstruction)
    panel.inference.select(inference)
    panel.set_grid(grid)
    count = len(window.model.runs)
    with qtbot.waitSignal(window.runner.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert window.errors == [], window.errors
    assert len(window.model.runs) == count + 1
    return window.model.runs[-1]


def _sphere_centre(truth, sphere):
    """Centre (x, y) in view (voxel) coordinates of a sphere's voxels."""
    x, y = np.nonzero(truth.labels == sphere)
    return float(x.mean() + 0.5), float(y.mean() + 0.5)


def _widget_point(view, x, y):
    return view.graphics.mapFromScene(view.viewbox.mapViewToScene(QPointF(x, y)))


def _drag(view, start, end, steps=10):
    """A real mouse drag (press, moves, release) between view coordinates."""
    viewport = view.graphics.viewport()
    first, last = _widget_point(view, *start), _widget_point(view, *end)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, first)
    for step in range(1, steps + 1):
        QTest.qWait(15)  # pyqtgraph drops mouse moves closer than 10 ms apart
        QTest.mouseMove(viewport, first + (last - first) * step / steps)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, last)


def _lut_index_of_colour(view, ix, iy, table):
    """Index in ``table`` of the colour painted at the centre of voxel (ix, iy)."""
    image = view.graphics.grab().toImage()
    colour = image.pixelColor(_widget_point(view, ix + 0.5, iy + 0.5))
    rgb = np.array([colour.red(), colour.green(), colour.blue()], dtype=float)
    distances = np.abs(table.astype(float) - rgb).sum(axis=1)
    return int(np.argmin(distances)), float(distances.min())


def _table_row(panel, roi_name, map_name):
    table = panel.stats_table
    for row in range(table.rowCount()):
        if table.item(row, 0).text() == roi_name and table.item(row, 1).text() == map_name:
            return {key: table.item(row, c).text() for c, (key, _) in enumerate(STATS_COLUMNS)}
    raise AssertionError(f"no statistics row for {roi_name}/{map_name}")


def _number_text(value):
    # The statistics table's number format (3 significant digits below 10, ...).
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def test_open_run_inspect_measure_compare_and_export(
    real_window, qtbot, scan, tmp_path, monkeypatch
):
    window = real_window
    path, _, truth = scan
    _open(window, qtbot, path)
    assert window.stack.currentWidget() is window.workspace
    rows = window.data_panel.rows()
    assert rows["kind"] == "raw k-space" and rows["coils"] == "2"
    assert rows["frames"] == str(N_FRAMES) and rows["matrix"] == f"{MATRIX} × {MATRIX}"
    # No network was trained for this schedule: learned methods are listed but greyed out
    # with the reason, matching methods are offered.
    from mrfcore.methods import INFERENCE

    inference = window.method_panel.inference
    for info in INFERENCE:
        check = getattr(info.method_type, "available_for", None)
        if check is not None:
            assert info.name in inference.unavailable, info.name
            assert "no trained model" in inference.unavailable[info.name]
    assert "dm" in inference.available_names()

    # -- run ZF + DM; the views show the run's maps --------------------------------------
    first = _run(window, qtbot, "zf")
    assert (first.reconstruction, first.inference, first.grid) == ("zf", "dm", "coarse")
    threads = compute_threads()
    assert first.device == f"cpu ({threads} thread{'s' if threads > 1 else ''})"
    assert window.run_list.table.item(0, 1).text() == "zf → dm, coarse grid"
    maps = first.maps
    views = window.map_panel.views
    assert list(views) == ["T1", "T2", "PD"]
    centres = {s: _sphere_centre(truth, s) for s in IN_GRID_SPHERES}
    pixels = [(int(x), int(y)) for x, y in centres.values()] + [(0, 0), (MATRIX - 1, 3)]
    for name, (values, _unit) in maps.maps().items():
        if name not in views:
            continue
        for ix, iy in pixels:
            np.testing.assert_equal(views[name].value_at(ix, iy), values[ix, iy])
    # The painted colour is the colour map's colour for the value, in the shown window.
    qtbot.waitExposed(views["T1"])
    for name in ("T1", "T2"):
        view = views[name]
        low, high = view.levels()
        table = lookup_table(view.colormap_combo.currentText())
        for ix, iy in pixels[:3]:
            value = float(maps.maps()[name][0][ix, iy])
            expected = int(np.clip((value - low) / (high - low) * 256, 0, 255))
            index, distance = _lut_index_of_colour(view, ix, iy, table)
            assert distance < 12 and abs(index - expected) <= 3, (name, ix, iy, index, expected)
    # The crosshair readout lists each map's value under the cursor, with its unit.
    ix, iy = pixels[0]
    text = window.map_panel.show_readout(ix + 0.5, iy + 0.5)
    assert text.startswith(f"x {ix}, y {iy}")
    for name in ("T1", "T2", "PD"):
        shown = format_value(float(maps.maps()[name][0][ix, iy]), maps.maps()[name][1])
        assert f"{name} {shown}" in text
    background = np.argwhere(~maps.mask)
    if background.size:  # voxels left out by the method's mask read "—", not a number
        bx, by = background[0]
        assert "T1 —" in window.map_panel.show_readout(bx + 0.5, by + 0.5)

    # The maps agree with the phantom's truth inside the spheres the grid covers.
    for sphere in IN_GRID_SPHERES:
        inside = truth.labels == sphere
        t1_true, t2_true = truth.t1_ms[inside][0], truth.t2_ms[inside][0]
        t1, t2 = np.nanmedian(maps.t1_ms[inside]), np.nanmedian(maps.t2_ms[inside])
        assert abs(t1 - t1_true) <= 0.2 * t1_true, (sphere, t1, t1_true)
        assert abs(t2 - t2_true) <= 0.3 * t2_true, (sphere, t2, t2_true)

    # -- draw an ROI onto sphere 6 with the mouse; the table is numpy on the mask --------
    roi_panel = window.roi_panel
    qtbot.mouseClick(roi_panel.add_buttons["ellipse"], Qt.MouseButton.LeftButton)
    uid = window.model.selected_roi
    roi = window.model.rois[uid]
    start = tuple(roi.points.mean(axis=0))
    target = centres[6]
    _drag(views["T1"], start, target)
    qtbot.waitUntil(lambda: np.allclose(window.model.rois[uid].points.mean(0), target, atol=0.3))
    roi = window.model.rois[uid]
    # Independent mask: voxel centres inside the axis-aligned ellipse of the ROI's box.
    (x0, y0), (x1, y1) = roi.points.min(axis=0), roi.points.max(axis=0)
    cx, cy, a, b = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    xs, ys = np.meshgrid(np.arange(MATRIX) + 0.5, np.arange(MATRIX) + 0.5, indexing="ij")
    mask = ((xs - cx) / a) ** 2 + ((ys - cy) / b) ** 2 <= 1
    assert mask.sum() > 10
    roi_panel.update_statistics()
    for name in ("T1", "T2", "PD"):
        values = maps.maps()[name][0][mask].astype(np.float64)
        values = values[np.isfinite(values)]
        row = next(r for r in roi_panel.rows if r["roi"] == roi.name and r["map"] == name)
        assert row["n"] == values.size
        np.testing.assert_allclose(
            [row["mean"], row["sd"], row["median"], row["minimum"], row["maximum"]],
            [values.mean(), values.std(ddof=1), np.median(values), values.min(), values.max()],
            rtol=1e-6,
        )
        shown = _table_row(roi_panel, roi.name, name)
        unit = maps.maps()[name][1]
        assert shown["n"] == str(values.size)
        assert shown["mean"] == f"{_number_text(values.mean())} {unit}"
        assert shown["sd"] == f"{_number_text(values.std(ddof=1))} {unit}"

    # -- a second run (view sharing) and Bland-Altman of the two, per voxel in the ROI ---
    second = _run(window, qtbot, "vs")
    assert second.reconstruction == "vs" and window.model.current_run is second
    np.testing.assert_equal(views["T1"].values, second.maps.t1_ms)
    window.tabs.setCurrentWidget(window.compare_panel)
    compare = window.compare_panel
    compare.measured_combo.setCurrentIndex(compare.measured_combo.findData(second.id))
    compare.reference_combo.setCurrentIndex(compare.reference_combo.findData(first.id))
    compare.map_combo.setCurrentText("T1")
    compare.pairs_combo.setCurrentIndex(compare.pairs_combo.findData(PER_VOXEL))
    comparison = compare.recompute()
    a_values = first.maps.t1_ms[mask].astype(np.float64)
    b_values = second.maps.t1_ms[mask].astype(np.float64)
    keep = np.isfinite(a_values) & np.isfinite(b_values)
    differences = b_values[keep] - a_values[keep]
    bias, sd = differences.mean(), differences.std(ddof=1)
    result = comparison.result
    assert result.n == keep.sum() > 10
    np.testing.assert_allclose(
        [result.bias, result.lower, result.upper],
        [bias, bias - 1.96 * sd, bias + 1.96 * sd],
        rtol=1e-3,
        atol=1e-9,
    )  # the textbook 1.96 against the exact 1.959964: 0.002 % of the limits
    listing = compare.listing()
    assert f"Bias (mean B − A): {result.bias:.4g} ms" in listing
    assert f"n = {keep.sum()} pairs" in listing

    # -- export the first run as NIfTI from the run list; nibabel reads it back ----------
    import nibabel as nib
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("sub-01_acq-mrf", True))
    window.model.set_current_run(first.id)
    qtbot.mouseClick(window.run_list.export_button, Qt.MouseButton.LeftButton)
    assert window.errors == []
    for suffix, values in (("T1map", maps.t1_ms), ("T2map", maps.t2_ms), ("PDmap", maps.pd)):
        image = nib.load(tmp_path / f"sub-01_acq-mrf_{suffix}.nii.gz")
        data = np.asarray(image.dataobj)
        assert data.shape == (MATRIX, MATRIX, 1)
        np.testing.assert_array_equal(data[:, :, 0], values)
        np.testing.assert_allclose(image.affine, maps.geometry.affine, atol=1e-5)
    sidecar = json.loads((tmp_path / "sub-01_acq-mrf_T1map.json").read_text())
    assert "zf" in json.dumps(sidecar) and "dm" in json.dumps(sidecar)


def test_cancel_lrtv_mid_run_keeps_the_earlier_maps(real_window, qtbot, scan):
    window = real_window
    _open(window, qtbot, scan[0])
    first = _run(window, qtbot, "zf")
    shown = window.map_panel.views["T1"].values.copy()
    panel = window.method_panel
    panel.reconstruction.select("lrtv")
    messages = []
    window.runner.progressed.connect(lambda step, total, message: messages.append(message))
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    # Cancel once LRTV is iterating: the work is well under way.
    qtbot.waitUntil(lambda: any("iteration" in m for m in messages), timeout=RUN_TIMEOUT_MS)
    assert window.cancel_button.isVisible()
    asked = time.perf_counter()
    with qtbot.waitSignal(window.runner.finished, timeout=30_000):
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    stopped_after = time.perf_counter() - asked
    assert stopped_after < 15, f"cancel took {stopped_after:.1f} s"
    assert window.errors == []
    assert window.model.runs == [first] and window.model.current_run is first
    np.testing.assert_array_equal(window.map_panel.views["T1"].values, shown)
    assert panel.run_button.isEnabled() and not window.progress_holder.isVisible()


def test_a_corrupt_file_shows_an_error_and_keeps_the_earlier_maps(real_window, qtbot, scan):
    window = real_window
    path, truncated, _ = scan
    _open(window, qtbot, path)
    first = _run(window, qtbot, "zf")
    uid = window.roi_panel.add_roi("rectangle")
    loaded = window.model.input
    with qtbot.waitSignal(window.runner.finished, timeout=30_000):
        window.open_path(str(truncated))
    assert len(window.errors) == 1
    title, message, _details = window.errors[0]
    assert "nist_truncated.h5" in title + message
    assert window.error_dialog is not None and window.error_dialog.isVisible()
    assert window.model.input is loaded and window.model.runs == [first]
    assert uid in window.model.rois
    np.testing.assert_array_equal(window.map_panel.views["T1"].values, first.maps.t1_ms)
    QApplication.processEvents()
    assert window.method_panel.run_button.isEnabled()  # the scan can still be run
