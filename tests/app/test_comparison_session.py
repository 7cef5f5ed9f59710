"""Bland-Altman against typed-in reference values: the values, the table picked and the
comparison come back with a saved session, and give the same bias and limits."""

from __future__ import annotations

import numpy as np
import pytest
from gui_fakes import FAKE_INFERENCE, FAKE_RECON, synthetic_maps
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit

from app.bland_altman import REFERENCE
from app.model import ComparisonSettings, Run
from app.session import load_session
from mrfcore.analysis import ROI, bland_altman, roi_mask

TYPED = {  # ROI → {map: value typed}, as a user would with a thousands separator
    "vial 1": {"T1": "700", "T2": "61.5"},
    "vial 2": {"T1": "1,100", "T2": "88"},
    "vial 3": {"T1": "1496.25"},
}


def _type_into(table, row, column, text):
    """Edit a cell with the keyboard: open its editor, type, press Enter."""
    table.setCurrentCell(row, column)
    table.editItem(table.item(row, column))
    editors = [e for e in table.viewport().findChildren(QLineEdit) if e.isVisible()]
    assert len(editors) == 1  # (closed editors linger until deleted)
    editor = editors[0]
    editor.selectAll()
    QTest.keyClicks(editor, text)
    QTest.keyClick(editor, Qt.Key.Key_Return)
    QApplication.processEvents()


def _row(table, roi_name):
    return next(r for r in range(table.rowCount()) if table.item(r, 0).text() == roi_name)


def _table_contents(table):
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]  # fmt: skip


@pytest.fixture
def compared(window):
    model = window.model
    model.add_run(Run(model.new_run_id(), "ZF + DM", synthetic_maps(seed=1, noise=30)))
    measured = model.add_run(
        Run(model.new_run_id(), "LRTV + DM", synthetic_maps(seed=2, noise=30, t1_offset=50))
    )
    for index, (cx, cy) in enumerate([(20, 20), (32, 24), (44, 28), (30, 34)], start=1):
        model.add_roi(ROI.circle(f"vial {index}", (cx, cy), 4))
    panel = window.compare_panel
    window.stack.setCurrentWidget(window.workspace)
    window.tabs.setCurrentWidget(panel)
    panel.measured_combo.setCurrentIndex(panel.measured_combo.findData(measured.id))
    panel.reference_combo.setCurrentIndex(panel.reference_combo.findData(REFERENCE))
    panel.map_combo.setCurrentText("T1")
    panel.difference_combo.setCurrentIndex(1)  # percentages
    # A published table, batch and temperature picked (EUROSPIN, second set, 21.5 °C).
    panel.phantom_combo.setCurrentIndex(panel.phantom_combo.findData("eurospin"))
    panel.set_combo.setCurrentIndex(panel.set_combo.count() - 1)
    panel.temperature.setValue(21.5)
    table = panel.reference_table
    for roi_name, values in TYPED.items():
        for map_name, text in values.items():
            _type_into(table, _row(table, roi_name), {"T1": 2, "T2": 3}[map_name], text)
    _type_into(table, _row(table, "vial 4"), 1, "7")  # the vial under ROI 4
    return window, measured


def test_typed_reference_values_come_back_with_the_session(compared, qtbot, tmp_path):
    from app.main_window import MainWindow

    window, measured = compared
    panel = window.compare_panel
    assert panel.reference_values == {
        "vial 1": {"T1": 700.0, "T2": 61.5},
        "vial 2": {"T1": 1100.0, "T2": 88.0},
        "vial 3": {"T1": 1496.25},
    }
    before = panel.recompute()
    assert before.result.n == 3 and before.result.percentage
    # Independent: the ROI means of run B against the typed values.
    means = [
        np.nanmean(measured.maps.t1_ms[roi_mask(window.model.rois[uid], (64, 48))].astype(float))
        for uid in list(window.model.rois)[:3]
    ]
    expected = bland_altman([700.0, 1100.0, 1496.25], means, percentage=True)
    np.testing.assert_allclose(
        [before.result.bias, before.result.lower, before.result.upper],
        [expected.bias, expected.lower, expected.upper],
    )
    chosen_set = panel.set_combo.currentText()
    table = _table_contents(panel.reference_table)
    assert table[1] == ["vial 2", "2", "1100", "88"]  # as read, not as typed
    path = window.save_session(tmp_path / "comparison")

    # A fresh window, whose run ids are not those of the file.
    fresh = MainWindow(reconstruction=FAKE_RECON, inference=FAKE_INFERENCE, warm_up=False)
    qtbot.addWidget(fresh)
    fresh.show()
    fresh.model.add_run(Run(fresh.model.new_run_id(), "earlier", synthetic_maps()))
    assert fresh.open_session(str(path))
    reopened = fresh.compare_panel
    fresh.tabs.setCurrentWidget(reopened)
    assert reopened.measured_combo.currentText() == "LRTV + DM"
    assert reopened.measured_combo.currentData() != measured.id  # renumbered, still found
    assert reopened.reference_combo.currentData() == REFERENCE
    assert reopened.reference_box.isVisibleTo(reopened)
    assert reopened.map_combo.currentText() == "T1"
    assert reopened.difference_combo.currentIndex() == 1
    assert reopened.phantom_combo.currentData() == "eurospin"
    assert reopened.set_combo.currentText() == chosen_set
    assert reopened.temperature.value() == 21.5
    assert reopened.reference_values == panel.reference_values
    assert reopened.spheres["vial 4"] == 7
    assert _table_contents(reopened.reference_table) == table
    after = reopened.recompute()
    assert after is not None and after.result.n == before.result.n
    for name in ("bias", "sd", "lower", "upper", "bias_ci", "lower_ci", "upper_ci"):
        np.testing.assert_allclose(getattr(after.result, name), getattr(before.result, name))
    assert reopened.listing().splitlines()[1:] == panel.listing().splitlines()[1:]


def test_settings_round_trip_and_old_sessions(tmp_path, window):
    settings = ComparisonSettings(
        measured_run=2, against=REFERENCE, map_name="T2", pairs="voxel", percentage=True,
        reference_values={"a": {"T1": 1.5}}, spheres={"a": 3}, phantom="eurospin",
        reference_set={"batch": "b", "field_strength_t": 3.0, "plate": "T2"},
        temperature_c=18.0,
    )  # fmt: skip
    assert ComparisonSettings.from_dict(settings.to_dict()) == settings
    # A session written before comparisons were saved opens with the defaults.
    path = window.save_session(tmp_path / "old")
    content = load_session(path)
    assert content.comparison.reference_values == {}
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("session.json"))
    del header["comparison"]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("session.json", json.dumps(header))
    assert load_session(path).comparison == ComparisonSettings()
