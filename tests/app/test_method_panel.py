"""Option forms and method lists are generated from the registries."""

from __future__ import annotations

import pytest
from gui_fakes import FAKE_INFERENCE, FAKE_RECON, FakeReconOptions
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

from app.method_panel import MethodPanel, OptionsForm
from mrfcore.device import DeviceInfo
from mrfcore.methods import option_specs, options_from_dict


def test_form_widgets_follow_the_option_specs(qtbot):
    form = OptionsForm(option_specs(FakeReconOptions))
    qtbot.addWidget(form)
    iterations = form.editors["iterations"]
    lam = form.editors["lam"]
    coils = form.editors["coil_maps"]
    toeplitz = form.editors["toeplitz"]
    assert isinstance(iterations, QSpinBox)
    assert (iterations.minimum(), iterations.maximum(), iterations.value()) == (1, 500, 20)
    assert isinstance(lam, QDoubleSpinBox)
    assert (lam.minimum(), lam.maximum()) == (0.0, 10.0)
    assert lam.value() == 0.2
    assert lam.suffix() == " × ZF scale"
    assert "total-variation" in lam.toolTip() and "0 … 10" in lam.toolTip()
    assert isinstance(coils, QComboBox)
    assert [coils.itemText(i) for i in range(coils.count())] == ["walsh", "espirit"]
    assert isinstance(toeplitz, QCheckBox) and toeplitz.isChecked()
    # Advanced options start folded away.
    assert not form.advanced_box.isVisible() and not form.advanced_box.isVisibleTo(form)
    form.advanced_toggle.setChecked(True)
    assert form.advanced_box.isVisibleTo(form)


def test_form_values_round_trip_through_options_from_dict(qtbot):
    form = OptionsForm(option_specs(FakeReconOptions))
    qtbot.addWidget(form)
    form.editors["iterations"].setValue(999)  # clamped to the declared maximum
    form.editors["lam"].setValue(-3)  # clamped to the minimum
    form.editors["coil_maps"].setCurrentIndex(1)
    form.editors["toeplitz"].setChecked(False)
    values = form.values()
    assert values == {"iterations": 500, "lam": 0.0, "coil_maps": "espirit", "toeplitz": False}
    options = options_from_dict(FakeReconOptions, values)
    assert options.iterations == 500 and options.coil_maps == "espirit"
    form.reset()
    assert form.values() == {"iterations": 20, "lam": 0.2, "coil_maps": "walsh", "toeplitz": True}
    form.set_values({"lam": 1.5, "unknown": 3})
    assert form.values()["lam"] == 1.5


def test_panel_lists_registered_methods_and_reports_the_choice(qtbot):
    panel = MethodPanel(FAKE_RECON, FAKE_INFERENCE)
    qtbot.addWidget(panel)
    assert not panel.run_button.isEnabled()  # nothing loaded yet
    panel.populate()
    combo = panel.reconstruction.combo
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[1:] == ["Fake LRTV", "Fake ZF"] and labels[0].startswith("None")
    panel.set_input_kind("kspace")
    assert panel.run_button.isEnabled()
    assert panel.reconstruction.current() == "fake_lrtv"
    panel.reconstruction.form().editors["iterations"].setValue(7)
    choice = panel.choice()
    assert choice.reconstruction == "fake_lrtv" and choice.inference == "fake_dm"
    assert choice.reconstruction_options["iterations"] == 7
    assert choice.device == "auto"
    # Switching method and back keeps the user's edits.
    panel.reconstruction.select("fake_zf")
    assert panel.choice().reconstruction_options == {"batch": 4096}
    panel.reconstruction.select("fake_lrtv")
    assert panel.choice().reconstruction_options["iterations"] == 7
    # An image series needs no reconstruction.
    panel.set_input_kind("images")
    assert panel.choice().reconstruction is None
    assert not panel.reconstruction.isEnabled()
    panel.set_busy(True)
    assert not panel.run_button.isEnabled()
    panel.set_input_kind("maps")
    panel.set_busy(False)
    assert not panel.run_button.isEnabled() and "nothing to run" in panel.hint.text()


def test_defaults_are_applied(qtbot):
    panel = MethodPanel(FAKE_RECON, FAKE_INFERENCE)
    qtbot.addWidget(panel)
    panel.populate()
    panel.set_input_kind("kspace")
    panel.apply_defaults("fake_zf", {"batch": 128}, "fake_dm", {"batch": 64})
    choice = panel.choice()
    assert choice.reconstruction == "fake_zf"
    assert choice.reconstruction_options == {"batch": 128}
    assert choice.inference_options == {"batch": 64}


def test_device_list_names_the_gpu(qtbot):
    panel = MethodPanel(FAKE_RECON, FAKE_INFERENCE)
    qtbot.addWidget(panel)
    panel.set_devices([DeviceInfo("cuda:0", "NVIDIA RTX 4090 (cuda:0)"), DeviceInfo("cpu", "CPU")])
    items = [panel.device_combo.itemText(i) for i in range(panel.device_combo.count())]
    assert items == ["Automatic (NVIDIA RTX 4090 (cuda:0))", "NVIDIA RTX 4090 (cuda:0)", "CPU"]
    panel.device_combo.setCurrentIndex(2)
    assert panel.choice().device == "cpu"
    panel.set_devices([DeviceInfo("cpu", "CPU")])
    assert panel.device_combo.itemText(0) == "Automatic (CPU – no GPU found)"
    assert panel.choice().device == "cpu"  # the choice survives a refresh


def test_real_registries_populate(qtbot):
    # Whatever is registered right now appears; nothing is named in the GUI code.
    from mrfcore.methods import INFERENCE, RECONSTRUCTION

    panel = MethodPanel()
    qtbot.addWidget(panel)
    panel.populate()
    assert set(panel.inference.infos) == set(INFERENCE.names())
    assert set(panel.reconstruction.infos) == set(RECONSTRUCTION.names())


def test_optional_and_text_options_use_a_text_field(qtbot):
    from dataclasses import dataclass

    from PySide6.QtWidgets import QLineEdit

    from mrfcore.methods import option

    @dataclass
    class Options:
        seed: int | None = option(None, label="Random seed")
        name: str = option("abc", label="Name")

    form = OptionsForm(option_specs(Options))
    qtbot.addWidget(form)
    assert isinstance(form.editors["seed"], QLineEdit)
    assert form.values() == {"seed": None, "name": "abc"}
    form.editors["seed"].setText("12")
    form.editors["name"].setText("12")
    assert form.values() == {"seed": 12, "name": "12"}


class _NeedsModel:
    """A learned method with a trained model for one sequence only."""

    @staticmethod
    def available_for(sequence_hash):
        return sequence_hash == "trained-for-this"

    def run(self, inputs, options, progress):  # pragma: no cover - never run here
        raise AssertionError


def test_methods_that_cannot_run_on_the_scan_are_greyed_out_with_the_reason(qtbot):
    from gui_fakes import FakeInferenceOptions

    from mrfcore.methods import MethodInfo

    learned = MethodInfo("net", "Net", "inference", FakeInferenceOptions, _NeedsModel, "A net.")
    panel = MethodPanel(FAKE_RECON, [learned, *FAKE_INFERENCE])
    qtbot.addWidget(panel)
    panel.populate()
    panel.set_input_kind("kspace", "trained-for-this")
    combo = panel.inference.combo
    assert panel.inference.current() == "net" and panel.run_button.isEnabled()
    assert combo.model().item(0).isEnabled() and combo.itemText(0) == "Net"

    panel.set_sequence("another-sequence")
    item = combo.model().item(0)
    assert not item.isEnabled()
    assert combo.itemText(0).startswith("Net") and "not available" in combo.itemText(0)
    tip = combo.itemData(0, Qt.ItemDataRole.ToolTipRole)
    assert "no trained model" in tip and "mrf train" in tip
    # The choice moves to a method that can run, and a default naming the greyed-out
    # method does not bring it back.
    assert panel.inference.current() == "fake_dm" and panel.run_button.isEnabled()
    panel.apply_defaults("fake_zf", None, "net", {"batch": 3})
    assert panel.choice().inference == "fake_dm"
    assert panel.choice().inference_options == {"batch": 4096}
    with pytest.raises(ValueError, match="no trained model"):
        panel.inference.select("net")

    # With only the unavailable method, Run is off and the hint says why.
    alone = MethodPanel(FAKE_RECON, [learned])
    qtbot.addWidget(alone)
    alone.populate()
    alone.set_input_kind("kspace")  # an input without a known sequence
    assert not alone.run_button.isEnabled()
    assert "can run on this scan" in alone.hint.text()
    assert "sequence" in alone.inference.combo.itemData(0, Qt.ItemDataRole.ToolTipRole)


def test_dictionary_grid_is_chosen_from_the_presets(qtbot):
    from mrfcore.dictionary import GRID_PRESETS

    panel = MethodPanel(FAKE_RECON, FAKE_INFERENCE)
    qtbot.addWidget(panel)
    panel.populate()
    combo = panel.grid_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(GRID_PRESETS)
    assert panel.choice().grid == "paper"
    panel.set_input_kind("kspace")
    panel.apply_defaults("fake_zf", None, "fake_dm", None, "coarse")
    assert panel.choice().grid == "coarse"
    assert GRID_PRESETS["coarse"] == combo.itemData(
        combo.currentIndex(), Qt.ItemDataRole.ToolTipRole
    )
    with pytest.raises(ValueError, match="no dictionary grid"):
        panel.set_grid("huge")
