"""Run list (show, rename, delete) and saving / reopening a session."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fakes import synthetic_maps

from app.model import AppModel, LoadedInput, Run, ViewSettings
from app.session import load_session, save_session
from mrfcore.analysis import ROI
from mrfcore.data import ImageSeries


def _model_with_runs() -> AppModel:
    model = AppModel()
    model.set_input(LoadedInput(object(), "/data/scan.h5", {"kind": "raw k-space"}))
    maps = synthetic_maps()
    images = ImageSeries(
        np.full((3, 64, 48), 1 + 2j, np.complex64), maps.geometry, np.eye(5, 3, dtype=np.complex64)
    )
    model.add_run(
        Run(
            model.new_run_id(),
            "ZF + DM",
            maps,
            "zf",
            {"density": True},
            "dm",
            {"batch": 100},
            "cpu",
            images,
            {"reconstruction_s": 1.5, "inference_s": 0.5},
            {"software": {"version": "x"}, "value": np.float32(2.5)},
        )
    )
    model.add_run(
        Run(
            model.new_run_id(),
            "LRTV + DM",
            synthetic_maps(t1_offset=10),
            "lrtv",
            {"lam": 0.2},
            "dm",
            {},
            "cpu",
        )
    )
    model.add_roi(ROI.circle("vial 1", (20, 20), 4, colour="#ff0000"))
    model.add_roi(ROI("poly", "polygon", [[1, 1], [10, 1], [5, 8]]))
    model.set_levels("T1", (0.0, 2000.0))
    model.set_colormap("T2", "viridis")
    model.set_extra_shown("match_correlation", True)
    model.set_current_run(model.runs[0].id)
    return model


def test_session_round_trip(tmp_path):
    model = _model_with_runs()
    path = save_session(tmp_path / "work", model)
    assert path.name == "work.mrfsession"
    content = load_session(path)
    assert content.input_path == "/data/scan.h5"
    assert [r.name for r in content.runs] == ["ZF + DM", "LRTV + DM"]
    first, original = content.runs[0], model.runs[0]
    for name in ("t1_ms", "t2_ms", "pd", "mask"):
        np.testing.assert_array_equal(getattr(first.maps, name), getattr(original.maps, name))
    np.testing.assert_array_equal(
        first.maps.extra["match_correlation"], original.maps.extra["match_correlation"]
    )
    np.testing.assert_array_equal(first.maps.geometry.affine, original.maps.geometry.affine)
    np.testing.assert_array_equal(first.images.data, original.images.data)
    assert first.reconstruction_options == {"density": True} and first.inference == "dm"
    assert first.timings == {"reconstruction_s": 1.5, "inference_s": 0.5}
    assert first.provenance["value"] == 2.5
    assert first.maps.provenance == {"note": "synthetic"}
    assert content.runs[1].images is None
    assert content.current_run == original.id
    assert [r.name for r in content.rois] == ["vial 1", "poly"]
    np.testing.assert_array_equal(content.rois[1].points, model.rois[2].points)
    assert content.rois[0].colour == "#ff0000"
    assert content.view.levels == {"T1": (0.0, 2000.0)}
    assert content.view.colormaps == {"T2": "viridis"}
    assert content.view.shown_extras == ["match_correlation"]


def test_session_reopens_in_a_window(window, tmp_path):
    path = save_session(tmp_path / "s.mrfsession", _model_with_runs())
    assert window.open_session(str(path))  # the scan file is missing: runs still come back
    model = window.model
    assert [r.name for r in model.runs] == ["ZF + DM", "LRTV + DM"]
    assert model.current_run.name == "ZF + DM"
    assert window.stack.currentWidget() is window.workspace
    assert window.run_list.table.rowCount() == 2
    assert set(window.map_panel.views) == {"T1", "T2", "PD", "match_correlation"}
    assert window.map_panel.views["T1"].levels() == (0.0, 2000.0)
    assert window.map_panel.views["T2"].colormap_combo.currentText() == "viridis"
    assert len(model.rois) == 2 and all(len(s) == 2 for s in window.map_panel.shapes.values())
    assert "not found" in window.statusBar().currentMessage()


def test_broken_session_file_is_reported(window, tmp_path):
    path = tmp_path / "bad.mrfsession"
    path.write_text("not a zip")
    assert not window.open_session(str(path))
    assert str(path) in window.errors[-1][1]


def test_run_list_show_rename_delete(window, qtbot):
    model = _model_with_runs()
    window.model.runs_changed.emit()  # nothing yet in the window's own model
    runs = window.run_list
    for run in model.runs:
        window.model.add_run(Run(window.model.new_run_id(), run.name, run.maps))
    assert runs.table.rowCount() == 2
    assert window.model.current_run.name == "LRTV + DM"
    runs.table.selectRow(0)  # selecting shows the run
    assert window.model.current_run.name == "ZF + DM"
    runs.table.item(0, 0).setText("first try")  # rename in place
    assert window.model.runs[0].name == "first try"
    runs.table.item(0, 0).setText("   ")  # an empty name is refused
    assert window.model.runs[0].name == "first try" and runs.table.item(0, 0).text() == "first try"
    runs.table.selectRow(0)
    runs.delete_button.click()
    assert [r.name for r in window.model.runs] == ["LRTV + DM"]
    assert window.model.current_run.name == "LRTV + DM"
    runs.delete_button.click()
    assert window.model.runs == [] and window.model.current_run is None
    assert window.map_panel.views == {}


def test_model_rejects_bad_edits():
    model = _model_with_runs()
    with pytest.raises(ValueError):
        model.rename_run(model.runs[0].id, " ")
    with pytest.raises(KeyError):
        model.run(999)
    with pytest.raises(ValueError, match="low < high"):
        model.set_levels("T1", (5.0, 5.0))
    assert ViewSettings.from_dict(model.view.to_dict()) == model.view


def test_export_run_as_nifti(window, tmp_path):
    import nibabel as nib

    run = window.model.add_run(Run(window.model.new_run_id(), "r", synthetic_maps()))
    files = window.export_run_nifti(run.id, tmp_path, "sub-01_acq-mrf")
    names = {f.name for f in files}
    assert {"sub-01_acq-mrf_T1map.nii.gz", "sub-01_acq-mrf_T1map.json"} <= names
    t1 = nib.load(tmp_path / "sub-01_acq-mrf_T1map.nii.gz").get_fdata()[:, :, 0]
    np.testing.assert_allclose(t1, run.maps.t1_ms, rtol=1e-6)  # ms, as shown in the app


def test_views_save_as_png_and_svg(window, tmp_path):
    from app.exporting import save_widget

    window.model.add_run(Run(window.model.new_run_id(), "r", synthetic_maps()))
    png = save_widget(window.map_panel, tmp_path / "maps.png")
    svg = save_widget(window.compare_panel.plots, tmp_path / "ba.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:2000]
    with pytest.raises(ValueError, match=".png or .svg"):
        save_widget(window.map_panel, tmp_path / "maps.bmp")


def test_exported_maps_reopen_as_a_run(window, qtbot, tmp_path):
    original = window.model.add_run(Run(window.model.new_run_id(), "r", synthetic_maps()))
    window.export_run_nifti(original.id, tmp_path, "sub-01")
    with qtbot.waitSignal(window.runner.finished, timeout=10000):
        window.open_maps(
            str(tmp_path / "sub-01_T1map.nii.gz"),
            str(tmp_path / "sub-01_T2map.nii.gz"),
            str(tmp_path / "sub-01_PDmap.nii.gz"),
        )
    assert window.errors == []
    run = window.model.current_run
    assert run.name == "Maps from sub-01_T1map.nii.gz" and run.inference is None
    np.testing.assert_allclose(run.maps.t1_ms, original.maps.t1_ms, rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(run.maps.t2_ms, original.maps.t2_ms, rtol=1e-5, equal_nan=True)
    assert window.run_list.table.item(1, 1).text() == "loaded maps"
