"""The application's state, without Qt: loaded data, runs, ROIs and view settings.

Views subscribe to the :class:`AppModel`'s events and redraw themselves; widgets change
the state only through the model's methods.  Keeping this Qt-free lets the session file,
the tests and any future front end share one source of truth.

Events are plain callback lists (:class:`Event`): ``model.rois_changed.connect(f)``.
Callbacks run synchronously in the thread that changed the model, which is always the GUI
thread (workers hand their results back through Qt signals first).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mrfcore.analysis import ROI
    from mrfcore.data import ImageSeries, QuantitativeMaps

__all__ = ["AppModel", "ComparisonSettings", "Event", "LoadedInput", "Run", "ViewSettings"]


class Event:
    """A tiny observer list: ``connect`` callbacks, ``emit`` calls them in order."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


@dataclass
class LoadedInput:
    """What the user opened.

    Attributes
    ----------
    data
        ``KSpaceData``, ``ImageSeries`` or ``QuantitativeMaps`` as returned by
        ``mrfcore.pipeline.load_input``.
    path
        The file or folder it came from (``None`` for data made in memory).
    description
        Label → text rows for the data panel (``mrfcore.pipeline.describe_input``).
    demo
        Name of the built-in demo scan (``"brain"``, ``"nist"``) when it is one.
    """

    data: Any
    path: str | None = None
    description: dict[str, str] = field(default_factory=dict)
    demo: str | None = None

    @property
    def kind(self) -> str:
        """``"kspace"``, ``"images"`` or ``"maps"`` (by the data object's type name)."""
        name = type(self.data).__name__
        return {"KSpaceData": "kspace", "ImageSeries": "images"}.get(name, "maps")


@dataclass
class Run:
    """One reconstruction × inference run and its results.

    ``reconstruction`` is ``None`` when the input already was an image series, and both
    method names are ``None`` for maps that were loaded from a file.  Options are kept as
    plain dictionaries so that sessions can store them as JSON.  ``timings`` are in
    seconds per stage.
    """

    id: int
    name: str
    maps: QuantitativeMaps
    reconstruction: str | None = None
    reconstruction_options: dict[str, Any] = field(default_factory=dict)
    inference: str | None = None
    inference_options: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    images: ImageSeries | None = None
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now().isoformat(timespec="seconds"))

    @property
    def total_seconds(self) -> float:
        return float(sum(self.timings.values()))

    @property
    def grid(self) -> str | None:
        """Name of the dictionary grid the run used (from its provenance), if known."""
        dictionary = self.provenance.get("dictionary")
        grid = dictionary.get("grid") if isinstance(dictionary, dict) else None
        return str(grid) if grid else None

    def describe_methods(self) -> str:
        """E.g. ``"lrtv → dm, paper grid"`` or ``"loaded maps"``."""
        if self.inference is None:
            return "loaded maps"
        text = f"{self.reconstruction or 'images'} → {self.inference}"
        return f"{text}, {self.grid} grid" if self.grid else text


@dataclass
class ViewSettings:
    """How the maps are shown.

    Attributes
    ----------
    colormaps
        Map name → colour-map name; maps not listed use the default of
        :func:`app.colormaps.default_colormap`.
    levels
        Map name → (low, high) display window in the map's unit; maps not listed are
        auto-windowed.
    shown_extras
        Names of the extra views shown besides T1, T2 and PD (quality maps, ``"TSMI"``);
        extras are hidden until the user asks for them.
    slice_index
        Slice shown for 3D data (axis z).
    crosshair
        Whether the crosshair follows the mouse.
    """

    colormaps: dict[str, str] = field(default_factory=dict)
    levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    shown_extras: list[str] = field(default_factory=list)
    slice_index: int = 0
    crosshair: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "colormaps": dict(self.colormaps),
            "levels": {k: [float(lo), float(hi)] for k, (lo, hi) in self.levels.items()},
            "shown_extras": list(self.shown_extras),
            "slice_index": int(self.slice_index),
            "crosshair": bool(self.crosshair),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ViewSettings:
        return cls(
            colormaps=dict(values.get("colormaps", {})),
            levels={k: (float(v[0]), float(v[1])) for k, v in values.get("levels", {}).items()},
            shown_extras=list(values.get("shown_extras", [])),
            slice_index=int(values.get("slice_index", 0)),
            crosshair=bool(values.get("crosshair", True)),
        )


REFERENCE_VALUES = "reference"
"""``ComparisonSettings.against`` when run B is compared with reference values."""


@dataclass
class ComparisonSettings:
    """What the Bland-Altman tab compares, and the reference values entered there.

    Attributes
    ----------
    measured_run
        Id of run B (None: not chosen yet).
    against
        Id of run A, or :data:`REFERENCE_VALUES`.
    map_name
        ``"T1"``, ``"T2"``, ``"PD"`` or an extra map's name ("" = not chosen yet).
    pairs
        ``"roi"`` (ROI means) or ``"voxel"`` (voxels inside the ROIs).
    percentage
        Differences as a percentage of the pair mean.
    reference_values
        ROI name → {map name → reference value}; T1 and T2 in ms.
    spheres
        ROI name → the sphere / vial number it sits on (for filling from a table).
    phantom
        Reference table family: ``"nist"`` or ``"eurospin"``.
    reference_set
        The published table picked: ``{"batch", "field_strength_t", "plate"}``, or None.
    temperature_c
        Phantom temperature (°C) the table values are interpolated to.
    """

    measured_run: int | None = None
    against: int | str | None = None
    map_name: str = ""
    pairs: str = "roi"
    percentage: bool = False
    reference_values: dict[str, dict[str, float]] = field(default_factory=dict)
    spheres: dict[str, int] = field(default_factory=dict)
    phantom: str = "nist"
    reference_set: dict[str, Any] | None = None
    temperature_c: float = 20.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "measured_run": self.measured_run,
            "against": self.against,
            "map_name": self.map_name,
            "pairs": self.pairs,
            "percentage": bool(self.percentage),
            "reference_values": {
                roi: {name: float(value) for name, value in values.items()}
                for roi, values in self.reference_values.items()
            },
            "spheres": {roi: int(number) for roi, number in self.spheres.items()},
            "phantom": self.phantom,
            "reference_set": None if self.reference_set is None else dict(self.reference_set),
            "temperature_c": float(self.temperature_c),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ComparisonSettings:
        def run_id(value: Any) -> int | str | None:
            return value if value is None or value == REFERENCE_VALUES else int(value)

        chosen = values.get("reference_set")
        return cls(
            measured_run=run_id(values.get("measured_run")),
            against=run_id(values.get("against")),
            map_name=str(values.get("map_name", "")),
            pairs=str(values.get("pairs", "roi")),
            percentage=bool(values.get("percentage", False)),
            reference_values={
                str(roi): {str(name): float(value) for name, value in entries.items()}
                for roi, entries in values.get("reference_values", {}).items()
            },
            spheres={str(roi): int(n) for roi, n in values.get("spheres", {}).items()},
            phantom=str(values.get("phantom", "nist")),
            reference_set=None if chosen is None else dict(chosen),
            temperature_c=float(values.get("temperature_c", 20.0)),
        )


class AppModel:
    """Everything the user has opened, computed and drawn.

    Events (arguments in brackets):

    - ``input_changed()`` – a new scan was opened (or closed).
    - ``runs_changed()`` – a run was added, renamed or deleted.
    - ``current_run_changed()`` – another run is shown.
    - ``roi_added(uid)``, ``roi_changed(uid, origin)``, ``roi_removed(uid)``,
      ``rois_reset()`` – ROI edits; ``origin`` is whatever object made the change (a view
      uses it to skip echoing its own edit back to itself).
    - ``selected_roi_changed(uid | None)``.
    - ``view_changed(key)`` – a view setting changed (``"levels"``, ``"colormaps"``,
      ``"slice"``, ``"extras"``, ``"crosshair"`` or ``"all"``).
    - ``comparison_changed()`` – :attr:`comparison` was replaced (a session was opened);
      the Bland-Altman panel edits the settings in place as the user works.
    """

    def __init__(self) -> None:
        self.input: LoadedInput | None = None
        self.runs: list[Run] = []
        self.current_run_id: int | None = None
        self.rois: dict[int, ROI] = {}
        self.selected_roi: int | None = None
        self.view = ViewSettings()
        self.comparison = ComparisonSettings()
        self._run_ids = itertools.count(1)
        self._roi_ids = itertools.count(1)

        self.input_changed = Event()
        self.runs_changed = Event()
        self.current_run_changed = Event()
        self.roi_added = Event()
        self.roi_changed = Event()
        self.roi_removed = Event()
        self.rois_reset = Event()
        self.selected_roi_changed = Event()
        self.view_changed = Event()
        self.comparison_changed = Event()

    # -- input ---------------------------------------------------------------------------
    def set_input(self, loaded: LoadedInput | None) -> None:
        self.input = loaded
        self.input_changed.emit()

    # -- runs ----------------------------------------------------------------------------
    def new_run_id(self) -> int:
        return next(self._run_ids)

    def add_run(self, run: Run, show: bool = True) -> Run:
        """Keep ``run`` (its id must come from :meth:`new_run_id`) and show it."""
        if any(existing.id == run.id for existing in self.runs):
            raise ValueError(f"a run with id {run.id} already exists")
        self.runs.append(run)
        self.runs_changed.emit()
        if show or self.current_run_id is None:
            self.set_current_run(run.id)
        return run

    def run(self, run_id: int) -> Run:
        for run in self.runs:
            if run.id == run_id:
                return run
        raise KeyError(f"no run with id {run_id}")

    @property
    def current_run(self) -> Run | None:
        if self.current_run_id is None:
            return None
        return self.run(self.current_run_id)

    def set_current_run(self, run_id: int | None) -> None:
        if run_id is not None:
            self.run(run_id)  # raises for unknown ids
        if run_id != self.current_run_id:
            self.current_run_id = run_id
            self.current_run_changed.emit()

    def rename_run(self, run_id: int, name: str) -> None:
        name = name.strip()
        if not name:
            raise ValueError("a run needs a non-empty name")
        self.run(run_id).name = name
        self.runs_changed.emit()

    def delete_run(self, run_id: int) -> None:
        run = self.run(run_id)
        index = self.runs.index(run)
        self.runs.remove(run)
        self.runs_changed.emit()
        if self.current_run_id == run_id:
            neighbour = self.runs[min(index, len(self.runs) - 1)].id if self.runs else None
            self.current_run_id = None  # force the event even if ids were reused
            self.set_current_run(neighbour)
            if neighbour is None:
                self.current_run_changed.emit()

    def unique_run_name(self, base: str) -> str:
        names = {run.name for run in self.runs}
        if base not in names:
            return base
        for number in itertools.count(2):
            candidate = f"{base} ({number})"
            if candidate not in names:
                return candidate
        raise AssertionError("unreachable")

    def clear_runs(self) -> None:
        self.runs.clear()
        self.current_run_id = None
        self.runs_changed.emit()
        self.current_run_changed.emit()

    # -- ROIs ----------------------------------------------------------------------------
    def add_roi(self, roi: ROI) -> int:
        uid = next(self._roi_ids)
        self.rois[uid] = roi
        self.roi_added.emit(uid)
        self.select_roi(uid)
        return uid

    def update_roi(self, uid: int, roi: ROI, origin: object = None) -> None:
        if uid not in self.rois:
            raise KeyError(f"no ROI with id {uid}")
        self.rois[uid] = roi
        self.roi_changed.emit(uid, origin)

    def edit_roi(self, uid: int, origin: object = None, **changes: Any) -> None:
        """Change some fields of an ROI (``name``, ``colour``, ``points`` ...)."""
        self.update_roi(uid, replace(self.rois[uid], **changes), origin)

    def remove_roi(self, uid: int) -> None:
        del self.rois[uid]
        if self.selected_roi == uid:
            self.select_roi(None)
        self.roi_removed.emit(uid)

    def set_rois(self, rois: list[ROI]) -> None:
        """Replace every ROI (loading an ROI set or a session)."""
        self.rois = {next(self._roi_ids): roi for roi in rois}
        self.selected_roi = None
        self.rois_reset.emit()
        self.selected_roi_changed.emit(None)

    def select_roi(self, uid: int | None) -> None:
        if uid != self.selected_roi:
            self.selected_roi = uid
            self.selected_roi_changed.emit(uid)

    def unique_roi_name(self, base: str = "ROI") -> str:
        names = {roi.name for roi in self.rois.values()}
        for number in itertools.count(len(self.rois) + 1):
            candidate = f"{base} {number}"
            if candidate not in names:
                return candidate
        raise AssertionError("unreachable")

    # -- view ----------------------------------------------------------------------------
    def set_levels(self, map_name: str, levels: tuple[float, float] | None) -> None:
        if levels is None:
            self.view.levels.pop(map_name, None)
        else:
            low, high = float(levels[0]), float(levels[1])
            if not high > low:
                raise ValueError(f"display window of {map_name} needs low < high, got {levels}")
            self.view.levels[map_name] = (low, high)
        self.view_changed.emit("levels")

    def set_colormap(self, map_name: str, colormap: str) -> None:
        self.view.colormaps[map_name] = colormap
        self.view_changed.emit("colormaps")

    def set_slice(self, index: int) -> None:
        if index != self.view.slice_index:
            self.view.slice_index = int(index)
            self.view_changed.emit("slice")

    def set_extra_shown(self, map_name: str, shown: bool) -> None:
        extras = self.view.shown_extras
        if shown and map_name not in extras:
            extras.append(map_name)
        elif not shown and map_name in extras:
            extras.remove(map_name)
        else:
            return
        self.view_changed.emit("extras")

    def set_view(self, view: ViewSettings) -> None:
        self.view = view
        self.view_changed.emit("all")

    # -- comparison ------------------------------------------------------------------------
    def set_comparison(self, settings: ComparisonSettings) -> None:
        self.comparison = settings
        self.comparison_changed.emit()
