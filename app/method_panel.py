"""Choice of reconstruction, inference, their options and the compute device.

Everything here is generated from the method registries of :mod:`mrfcore.methods`: each
registered method appears in a list, and its options dataclass becomes a form (numbers
become spin boxes with the declared limits and unit, choices become drop-down lists,
flags become check boxes, and the option's help text becomes the tooltip).  No method
is named in this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mrfcore.methods import MethodInfo, OptionSpec

__all__ = ["DEFAULT_GRID", "MethodChoice", "MethodPanel", "OptionsForm", "method_availability"]

_INT_LIMIT = 2**31 - 1
_FLOAT_LIMIT = 1e12
AUTO_DEVICE = "auto"
DEFAULT_GRID = "paper"
UNAVAILABLE_SUFFIX = "  (not available)"


def method_availability(info: MethodInfo, sequence_hash: str | None) -> str | None:
    """Why ``info`` cannot run on a scan of this sequence, or ``None`` when it can.

    A method class may define ``available_for(sequence_hash) -> bool`` (learned methods
    do: a model must exist for the sequence) and, optionally,
    ``unavailable_reason(sequence_hash) -> str``.  Both must be cheap (no torch).
    """
    check = getattr(info.method_type, "available_for", None)
    if check is None:
        return None
    try:
        if check(sequence_hash):
            return None
    except Exception as error:  # noqa: BLE001 - a broken check must not hide the method list
        return f"{info.label}: its availability check failed ({error})."
    explain = getattr(info.method_type, "unavailable_reason", None)
    if explain is not None:
        try:
            return str(explain(sequence_hash))
        except Exception:  # noqa: BLE001 - fall back to the generic reason
            pass
    if sequence_hash is None:
        return f"{info.label} needs to know the scan's sequence, and this input has none."
    return (
        f"{info.label} has no trained model for the sequence of this scan. "
        "Train one with 'mrf train' (see 'mrf train --help'), or choose another method."
    )


def _decimals_for(spec: OptionSpec) -> int:
    """Enough decimals to show the default and the limits without rounding them away."""
    values = [abs(v) for v in (spec.default, spec.minimum, spec.maximum) if v]
    values = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    smallest = min(values) if values else 1.0
    if smallest >= 1:
        return 2
    return min(8, max(3, int(math.ceil(-math.log10(smallest))) + 2))


def _parse_text(spec: OptionSpec, text: str) -> Any:
    """The value of a free-text option: text for ``str``, else empty → ``None`` and numbers
    as numbers (for options typed e.g. ``float | None``); validation happens in mrfcore."""
    if spec.type is str:
        return text
    text = text.strip()
    if not text or text.lower() == "none":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


class OptionsForm(QWidget):
    """A form for one options dataclass, from its :class:`OptionSpec` list.

    ``values()`` returns ``{option name: value}`` ready for
    :func:`mrfcore.methods.options_from_dict`; advanced options sit in a section that
    starts folded.
    """

    changed = Signal()

    def __init__(self, specs: Iterable[OptionSpec], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.specs = list(specs)
        self.editors: dict[str, QWidget] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        basic = QFormLayout()
        basic.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addLayout(basic)
        advanced_specs = [spec for spec in self.specs if spec.advanced]
        self.advanced_box = QWidget()
        advanced = QFormLayout(self.advanced_box)
        advanced.setContentsMargins(0, 0, 0, 0)
        self.advanced_toggle = QToolButton(text=f"Advanced options ({len(advanced_specs)})")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.toggled.connect(self._show_advanced)
        self.advanced_box.setVisible(False)
        if advanced_specs:
            layout.addWidget(self.advanced_toggle)
            layout.addWidget(self.advanced_box)
        else:
            self.advanced_toggle.hide()
        for spec in self.specs:
            editor = self._make_editor(spec)
            self.editors[spec.name] = editor
            label = QLabel(spec.label)
            label.setToolTip(editor.toolTip())
            (advanced if spec.advanced else basic).addRow(label, editor)
        if not self.specs:
            basic.addRow(QLabel("This method has no options."))

    def _show_advanced(self, shown: bool) -> None:
        self.advanced_box.setVisible(shown)
        self.advanced_toggle.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )

    def _make_editor(self, spec: OptionSpec) -> QWidget:
        tip = spec.help or spec.label
        if spec.unit:
            tip += f"\nUnit: {spec.unit}"
        if spec.choices is not None:
            editor: QWidget = QComboBox()
            for choice in spec.choices:
                editor.addItem(str(choice), choice)
            editor.currentIndexChanged.connect(self.changed)
        elif spec.type is bool:
            editor = QCheckBox()
            editor.toggled.connect(self.changed)
        elif spec.type is int:
            editor = QSpinBox()
            low = -_INT_LIMIT if spec.minimum is None else int(math.ceil(spec.minimum))
            high = _INT_LIMIT if spec.maximum is None else int(math.floor(spec.maximum))
            editor.setRange(low, high)
            if spec.unit:
                editor.setSuffix(f" {spec.unit}")
            editor.valueChanged.connect(self.changed)
            if spec.minimum is not None or spec.maximum is not None:
                tip += f"\nAllowed: {low} … {high}"
        elif spec.type is float:
            editor = QDoubleSpinBox()
            editor.setDecimals(_decimals_for(spec))
            low = -_FLOAT_LIMIT if spec.minimum is None else float(spec.minimum)
            high = _FLOAT_LIMIT if spec.maximum is None else float(spec.maximum)
            editor.setRange(low, high)
            default = float(spec.default) if isinstance(spec.default, int | float) else 1.0
            editor.setSingleStep(10 ** math.floor(math.log10(abs(default))) if default else 0.1)
            if spec.unit:
                editor.setSuffix(f" {spec.unit}")
            editor.valueChanged.connect(self.changed)
            if spec.minimum is not None or spec.maximum is not None:
                shown_low = "−∞" if spec.minimum is None else f"{spec.minimum:g}"
                shown_high = "∞" if spec.maximum is None else f"{spec.maximum:g}"
                tip += f"\nAllowed: {shown_low} … {shown_high}"
        else:
            editor = QLineEdit()
            editor.textChanged.connect(self.changed)
        editor.setToolTip(tip)
        editor.setObjectName(f"option_{spec.name}")
        self._set_editor_value(spec, editor, spec.default)
        return editor

    @staticmethod
    def _set_editor_value(spec: OptionSpec, editor: QWidget, value: Any) -> None:
        if isinstance(editor, QComboBox):
            index = editor.findData(value)
            if index < 0:
                index = editor.findText(str(value))
            editor.setCurrentIndex(max(index, 0))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QSpinBox):
            editor.setValue(int(value))
        elif isinstance(editor, QDoubleSpinBox):
            editor.setValue(float(value))
        elif isinstance(editor, QLineEdit):
            editor.setText("" if value is None else str(value))

    def values(self) -> dict[str, Any]:
        """Current value of every option, by option name."""
        result: dict[str, Any] = {}
        for spec in self.specs:
            editor = self.editors[spec.name]
            if isinstance(editor, QComboBox):
                result[spec.name] = editor.currentData()
            elif isinstance(editor, QCheckBox):
                result[spec.name] = editor.isChecked()
            elif isinstance(editor, QSpinBox):
                result[spec.name] = int(editor.value())
            elif isinstance(editor, QDoubleSpinBox):
                result[spec.name] = float(editor.value())
            else:
                result[spec.name] = _parse_text(spec, editor.text())
        return result

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` (unknown names are ignored; missing ones keep their value)."""
        for spec in self.specs:
            if spec.name in values:
                self._set_editor_value(spec, self.editors[spec.name], values[spec.name])

    def reset(self) -> None:
        self.set_values({spec.name: spec.default for spec in self.specs})


@dataclass
class MethodChoice:
    """What the user picked: method names, option values (plain dicts) and device."""

    reconstruction: str | None
    inference: str | None
    reconstruction_options: dict[str, Any] = field(default_factory=dict)
    inference_options: dict[str, Any] = field(default_factory=dict)
    device: str = AUTO_DEVICE
    grid: str = DEFAULT_GRID


class _MethodSection(QGroupBox):
    """A method list, the chosen method's description and its options form."""

    changed = Signal()

    def __init__(self, title: str, none_label: str | None, parent: QWidget | None = None):
        super().__init__(title, parent)
        self.none_label = none_label
        self.infos: dict[str, MethodInfo] = {}
        self.forms: dict[str, OptionsForm] = {}
        self.unavailable: dict[str, str] = {}  # method name → why it cannot run now
        layout = QVBoxLayout(self)
        self.combo = QComboBox()
        self.combo.setObjectName(f"{title.lower()}_method")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555;")
        self.form_holder = QVBoxLayout()
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every option of this method back to its default")
        self.reset_button.clicked.connect(self._reset)
        layout.addWidget(self.combo)
        layout.addWidget(self.description)
        layout.addLayout(self.form_holder)
        layout.addWidget(self.reset_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.combo.currentIndexChanged.connect(self._method_changed)

    def set_methods(self, infos: Iterable[MethodInfo]) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        self.infos = {}
        self.unavailable = {}
        if self.none_label is not None:
            self.combo.addItem(self.none_label, None)
        for info in infos:
            self.infos[info.name] = info
            self.combo.addItem(info.label, info.name)
            self.combo.setItemData(
                self.combo.count() - 1, info.description or info.label, Qt.ItemDataRole.ToolTipRole
            )
        self.combo.blockSignals(False)
        # Prefer a real method over "none" when there is one.
        self.combo.setCurrentIndex(1 if self.none_label is not None and self.infos else 0)
        self._method_changed()

    def current(self) -> str | None:
        return self.combo.currentData()

    def select(self, name: str | None) -> None:
        index = self.combo.findData(name)
        if index < 0:
            raise ValueError(f"no {self.title().lower()} method named {name!r} in the list")
        if name in self.unavailable:
            raise ValueError(self.unavailable[name])
        self.combo.setCurrentIndex(index)

    def available_names(self) -> list[str]:
        """Methods listed that can run on the current input, in list order."""
        return [name for name in self.infos if name not in self.unavailable]

    def set_unavailable(self, reasons: dict[str, str]) -> None:
        """Grey out the methods in ``reasons`` (name → why) with the reason as tooltip;
        a chosen method that became unavailable gives way to the first available one."""
        self.unavailable = dict(reasons)
        model = self.combo.model()
        self.combo.blockSignals(True)
        try:
            for index in range(self.combo.count()):
                name = self.combo.itemData(index)
                if name is None:
                    continue
                info = self.infos[name]
                reason = self.unavailable.get(name)
                item = model.item(index) if hasattr(model, "item") else None
                if item is not None:
                    item.setEnabled(reason is None)
                self.combo.setItemText(
                    index, info.label + (UNAVAILABLE_SUFFIX if reason is not None else "")
                )
                self.combo.setItemData(
                    index,
                    reason if reason is not None else (info.description or info.label),
                    Qt.ItemDataRole.ToolTipRole,
                )
        finally:
            self.combo.blockSignals(False)
        if self.current() in self.unavailable:
            available = self.available_names()
            if available:
                self.combo.setCurrentIndex(self.combo.findData(available[0]))
            elif self.none_label is not None:
                self.combo.setCurrentIndex(0)
        self._method_changed()

    def form(self) -> OptionsForm | None:
        name = self.current()
        return None if name is None else self.forms.get(name)

    def _method_changed(self) -> None:
        while self.form_holder.count():
            widget = self.form_holder.takeAt(0).widget()
            if widget is not None:
                widget.hide()
        name = self.current()
        info = self.infos.get(name) if name is not None else None
        if info is None:
            self.description.setText(
                "No method registered." if not self.infos and name is None else ""
            )
            self.reset_button.setVisible(False)
        else:
            reason = self.unavailable.get(name)
            self.description.setText(
                info.description if reason is None else f"<span style='color:#b00'>{reason}</span>"
            )
            # Forms are kept per method so that switching back keeps the user's edits.
            if name not in self.forms:
                form = OptionsForm(info.options, self)
                form.changed.connect(self.changed)
                self.forms[name] = form
            self.form_holder.addWidget(self.forms[name])
            self.forms[name].show()
            self.reset_button.setVisible(bool(info.options))
        self.changed.emit()

    def _reset(self) -> None:
        form = self.form()
        if form is not None:
            form.reset()


class MethodPanel(QWidget):
    """Method lists, option forms, device selector and the Run button.

    Parameters
    ----------
    reconstruction, inference
        The registries to list (the real ones of :mod:`mrfcore.methods` by default).
    """

    run_requested = Signal()

    def __init__(
        self,
        reconstruction: Iterable[MethodInfo] | None = None,
        inference: Iterable[MethodInfo] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._registries = (reconstruction, inference)
        self.populated = False
        layout = QVBoxLayout(self)
        self.reconstruction = _MethodSection(
            "Reconstruction", "None – the input already is an image series"
        )
        self.inference = _MethodSection("Inference", None)
        grid_box = QGroupBox("Dictionary")
        grid_layout = QVBoxLayout(grid_box)
        self.grid_combo = QComboBox()
        self.grid_combo.setObjectName("grid")
        self.grid_combo.setToolTip(
            "The T1 × T2 grid of simulated fingerprints: it gives the temporal subspace "
            "and the atoms matched. Built once per sequence and grid, then cached."
        )
        grid_layout.addWidget(self.grid_combo)
        device_box = QGroupBox("Compute device")
        device_layout = QVBoxLayout(device_box)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("device")
        self.device_combo.addItem("Automatic (GPU when present)", AUTO_DEVICE)
        self.device_combo.setToolTip("Where the computation runs; 'Automatic' uses the GPU if any")
        device_layout.addWidget(self.device_combo)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("run")
        self.run_button.setMinimumHeight(36)
        self.run_button.setToolTip("Reconstruct and compute T1, T2 and PD maps (Ctrl+R)")
        self.run_button.setShortcut("Ctrl+R")
        font = self.run_button.font()
        font.setBold(True)
        self.run_button.setFont(font)
        self.run_button.clicked.connect(self.run_requested)
        self.hint = QLabel("Open a scan to start.")
        self.hint.setWordWrap(True)
        # Run button and hint in a widget of their own, so that a window can keep them
        # in view while the forms above scroll (they stay in this panel otherwise).
        self.run_area = QWidget()
        run_layout = QVBoxLayout(self.run_area)
        run_layout.setContentsMargins(0, 0, 0, 0)
        run_layout.addWidget(self.run_button)
        run_layout.addWidget(self.hint)
        layout.addWidget(self.reconstruction)
        layout.addWidget(self.inference)
        layout.addWidget(grid_box)
        layout.addWidget(device_box)
        layout.addWidget(self.run_area)
        layout.addStretch(1)
        self._input_kind: str | None = None
        self._sequence_hash: str | None = None
        self._busy = False
        self.inference.changed.connect(self._update_enabled)
        self._update_enabled()

    def populate(self) -> None:
        """Fill the method lists from the registries (imports the method modules)."""
        if self._registries[0] is None or self._registries[1] is None:
            from mrfcore.methods import INFERENCE, RECONSTRUCTION

            reconstruction = self._registries[0] or RECONSTRUCTION
            inference = self._registries[1] or INFERENCE
        else:
            reconstruction, inference = self._registries
        self.reconstruction.set_methods(list(reconstruction))
        self.inference.set_methods(list(inference))
        self._fill_grids()
        self.populated = True
        self._check_availability()
        self._update_enabled()

    def _fill_grids(self) -> None:
        from mrfcore.dictionary import GRID_PRESETS

        current = self.grid_combo.currentData() or DEFAULT_GRID
        self.grid_combo.clear()
        for name, description in GRID_PRESETS.items():
            self.grid_combo.addItem(f"{name}: {description.split(',')[0]}", name)
            self.grid_combo.setItemData(
                self.grid_combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole
            )
        self.set_grid(current)

    def set_grid(self, name: str) -> None:
        """Choose the dictionary grid by preset name.

        Raises
        ------
        ValueError
            For a name that is not listed.
        """
        index = self.grid_combo.findData(name)
        if index < 0:
            raise ValueError(f"no dictionary grid named {name!r} in the list")
        self.grid_combo.setCurrentIndex(index)

    def set_sequence(self, sequence_hash: str | None) -> None:
        """The content hash of the loaded scan's sequence (``None`` when unknown): methods
        that cannot run for it (e.g. no trained model) are greyed out with the reason."""
        self._sequence_hash = sequence_hash
        self._check_availability()
        self._update_enabled()

    def _check_availability(self) -> None:
        if not self.populated:
            return
        for section in (self.reconstruction, self.inference):
            if self._input_kind in ("kspace", "images"):
                reasons = {
                    name: reason
                    for name, info in section.infos.items()
                    if (reason := method_availability(info, self._sequence_hash)) is not None
                }
            else:
                reasons = {}
            section.set_unavailable(reasons)

    def set_devices(self, devices: Iterable[Any]) -> None:
        """List the devices (``DeviceInfo(name, label)``) after "Automatic"."""
        current = self.device_combo.currentData()
        devices = list(devices)
        self.device_combo.clear()
        gpus = [d for d in devices if d.name != "cpu"]
        auto = f"Automatic ({gpus[0].label})" if gpus else "Automatic (CPU – no GPU found)"
        self.device_combo.addItem(auto, AUTO_DEVICE)
        for device in devices:
            self.device_combo.addItem(device.label, device.name)
        index = self.device_combo.findData(current)
        self.device_combo.setCurrentIndex(max(index, 0))

    def set_input_kind(self, kind: str | None, sequence_hash: str | None = None) -> None:
        """``"kspace"``, ``"images"``, ``"maps"`` or ``None``: what Run would work on, and
        the content hash of its sequence (see :meth:`set_sequence`)."""
        self._input_kind = kind
        self._sequence_hash = sequence_hash
        if kind == "images" and self.reconstruction.current() is not None:
            self.reconstruction.select(None)
        elif (
            kind == "kspace"
            and self.reconstruction.current() is None
            and (self.reconstruction.infos)
        ):
            self.reconstruction.combo.setCurrentIndex(1)
        self._check_availability()
        self._update_enabled()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_enabled()

    def apply_defaults(
        self,
        reconstruction: str | None,
        reconstruction_options: dict[str, Any] | None,
        inference: str | None,
        inference_options: dict[str, Any] | None,
        grid: str | None = None,
    ) -> None:
        """Select the given methods and show their option values (the pipeline's defaults).

        A default that cannot run on this input (see :meth:`set_sequence`) is skipped: the
        list keeps an available method, and its options are left as they are.
        """
        if reconstruction is not None or self._input_kind == "images":
            try:
                self.reconstruction.select(reconstruction)
            except ValueError:
                reconstruction_options = None
        if reconstruction_options and self.reconstruction.form() is not None:
            self.reconstruction.form().set_values(reconstruction_options)
        if inference is not None:
            try:
                self.inference.select(inference)
            except ValueError:
                inference_options = None
        if inference_options and self.inference.form() is not None:
            self.inference.form().set_values(inference_options)
        if grid is not None:
            self.set_grid(grid)
        self._update_enabled()

    def choice(self) -> MethodChoice:
        recon_form = self.reconstruction.form()
        inference_form = self.inference.form()
        return MethodChoice(
            reconstruction=self.reconstruction.current(),
            inference=self.inference.current(),
            reconstruction_options=recon_form.values() if recon_form else {},
            inference_options=inference_form.values() if inference_form else {},
            device=self.device_combo.currentData() or AUTO_DEVICE,
            grid=self.grid_combo.currentData() or DEFAULT_GRID,
        )

    def _update_enabled(self) -> None:
        kind = self._input_kind
        ready = self.populated and kind in ("kspace", "images") and not self._busy
        current = self.inference.current()
        has_inference = current is not None and current not in self.inference.unavailable
        self.reconstruction.setEnabled(self.populated and kind == "kspace" and not self._busy)
        self.inference.setEnabled(
            self.populated and kind in ("kspace", "images") and not self._busy
        )
        self.device_combo.setEnabled(not self._busy)
        self.grid_combo.setEnabled(
            self.populated and kind in ("kspace", "images") and not self._busy
        )
        self.run_button.setEnabled(ready and has_inference)
        if kind is None:
            self.hint.setText("Open a scan to start.")
        elif kind == "maps":
            self.hint.setText("The opened file holds maps already; there is nothing to run.")
        elif not self.populated:
            self.hint.setText("Loading the list of methods…")
        elif not has_inference:
            self.hint.setText(
                "No inference method can run on this scan (hover over the list for why)."
                if self.inference.infos
                else "No inference method is installed."
            )
        elif self._busy:
            self.hint.setText("Running… press Cancel to stop.")
        else:
            self.hint.setText("Press Run to compute T1, T2 and PD maps.")
