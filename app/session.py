"""Save and reopen a working session: input reference, runs, ROIs, view settings and
the Bland-Altman comparison (with its typed-in reference values).

A session file (``*.mrfsession``) is a zip archive holding ``session.json`` (names,
methods, options, timings, provenance, ROIs, view settings, comparison settings and the
path of the opened scan) and one ``run-<n>.npz`` per run with its maps (and TSMI when
present).  The scan itself is not copied: it is reopened from its path (or rebuilt, for
the demo scans).  No Qt here, so the format can be read by scripts too.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.model import REFERENCE_VALUES, AppModel, ComparisonSettings, Run, ViewSettings
from mrfcore.io.atomic import atomic_path

__all__ = ["SESSION_SUFFIX", "SessionContent", "load_session", "save_session"]

SESSION_SUFFIX = ".mrfsession"
_FORMAT = "mrf-studio-session"
_VERSION = 1


@dataclass
class SessionContent:
    """What a session file holds, ready to put into an :class:`AppModel`."""

    input_path: str | None
    demo: str | None
    runs: list[Run]
    current_run: int | None
    rois: list[Any]
    view: ViewSettings
    comparison: ComparisonSettings = field(default_factory=ComparisonSettings)
    notes: list[str] = field(default_factory=list)


def _json_safe(value: Any) -> Any:
    from mrfcore.io.export import to_json_compatible

    return to_json_compatible(value)


def _run_arrays(run: Run) -> dict[str, np.ndarray]:
    maps = run.maps
    arrays = {
        "t1_ms": maps.t1_ms,
        "t2_ms": maps.t2_ms,
        "pd": maps.pd,
        "mask": maps.mask,
        "affine": maps.geometry.affine,
        "voxel_size_mm": np.asarray(maps.geometry.voxel_size_mm),
    }
    for name, values in maps.extra.items():
        arrays[f"extra__{name}"] = values
    if run.images is not None:
        arrays["images_data"] = run.images.data
        if run.images.basis is not None:
            arrays["images_basis"] = run.images.basis
    return arrays


def save_session(path: str | Path, model: AppModel) -> Path:
    """Write the model's state to ``path`` (atomically); returns the path written."""
    path = Path(path)
    if path.suffix != SESSION_SUFFIX:
        path = path.with_name(path.name + SESSION_SUFFIX)
    loaded = model.input
    header: dict[str, Any] = {
        "format": _FORMAT,
        "version": _VERSION,
        "input": None
        if loaded is None
        else {"path": loaded.path, "demo": loaded.demo, "kind": loaded.kind},
        "runs": [],
        "current_run": model.current_run_id,
        "rois": [roi.to_dict() for roi in model.rois.values()],
        "view": model.view.to_dict(),
        "comparison": model.comparison.to_dict(),
    }
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        for run in model.runs:
            member = f"run-{run.id}.npz"
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **_run_arrays(run))
            archive.writestr(member, buffer.getvalue())
            header["runs"].append(
                {
                    "id": run.id,
                    "name": run.name,
                    "reconstruction": run.reconstruction,
                    "reconstruction_options": _json_safe(run.reconstruction_options),
                    "inference": run.inference,
                    "inference_options": _json_safe(run.inference_options),
                    "device": run.device,
                    "timings": {k: float(v) for k, v in run.timings.items()},
                    "provenance": _json_safe(run.provenance),
                    "maps_provenance": _json_safe(run.maps.provenance),
                    "units": dict(run.maps.units),
                    "created": run.created,
                    "arrays": member,
                }
            )
        archive.writestr("session.json", json.dumps(header, indent=1, allow_nan=False))
    return path


def _load_run(archive: zipfile.ZipFile, entry: dict[str, Any]) -> Run:
    from mrfcore.data import Geometry, ImageSeries, QuantitativeMaps

    with archive.open(entry["arrays"]) as handle:
        arrays = dict(np.load(io.BytesIO(handle.read()), allow_pickle=False))
    t1 = arrays["t1_ms"]
    geometry = Geometry(t1.shape, tuple(arrays["voxel_size_mm"]), arrays["affine"])
    extra = {k.removeprefix("extra__"): v for k, v in arrays.items() if k.startswith("extra__")}
    maps = QuantitativeMaps(
        t1_ms=t1,
        t2_ms=arrays["t2_ms"],
        pd=arrays["pd"],
        mask=arrays["mask"].astype(bool),
        geometry=geometry,
        extra=extra,
        units=dict(entry.get("units", {})),
        provenance=dict(entry.get("maps_provenance") or {}),
    )
    images = None
    if "images_data" in arrays:
        images = ImageSeries(arrays["images_data"], geometry, arrays.get("images_basis"))
    return Run(
        id=int(entry["id"]),
        name=str(entry["name"]),
        maps=maps,
        reconstruction=entry.get("reconstruction"),
        reconstruction_options=dict(entry.get("reconstruction_options") or {}),
        inference=entry.get("inference"),
        inference_options=dict(entry.get("inference_options") or {}),
        device=str(entry.get("device", "")),
        images=images,
        timings={k: float(v) for k, v in entry.get("timings", {}).items()},
        provenance=dict(entry.get("provenance") or {}),
        created=str(entry.get("created", "")),
    )


def load_session(path: str | Path) -> SessionContent:
    """Read a session file.

    Raises
    ------
    ValueError
        Naming the file, when it is not a readable MRF Studio session.
    """
    from mrfcore.analysis import ROI

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            header = json.loads(archive.read("session.json").decode("utf-8"))
            if header.get("format") != _FORMAT:
                raise ValueError("not an MRF Studio session")
            if int(header.get("version", 0)) > _VERSION:
                raise ValueError(
                    f"written by a newer MRF Studio (session version {header['version']})"
                )
            runs = [_load_run(archive, entry) for entry in header.get("runs", [])]
            comparison = ComparisonSettings.from_dict(header.get("comparison") or {})
    except (
        OSError, KeyError, TypeError, AttributeError, zipfile.BadZipFile, json.JSONDecodeError
    ) as error:  # fmt: skip
        raise ValueError(f"{path}: cannot read the session: {error}") from None
    except ValueError as error:
        raise ValueError(f"{path}: cannot read the session: {error}") from None
    loaded = header.get("input") or {}
    return SessionContent(
        input_path=loaded.get("path"),
        demo=loaded.get("demo"),
        runs=runs,
        current_run=header.get("current_run"),
        rois=[ROI.from_dict(item) for item in header.get("rois", [])],
        view=ViewSettings.from_dict(header.get("view", {})),
        comparison=comparison,
    )


def apply_session(model: AppModel, content: SessionContent) -> None:
    """Replace the model's runs, ROIs and view with the session's (not the input)."""
    model.clear_runs()
    new_ids = {}
    for run in content.runs:
        new_ids[run.id] = run.id = model.new_run_id()
        model.add_run(run, show=False)
    model.set_view(content.view)
    model.set_rois(content.rois)
    current = new_ids.get(content.current_run)
    if current is None and model.runs:
        current = model.runs[-1].id
    model.set_current_run(current)
    # The comparison names runs by their ids in the file.
    comparison = replace(content.comparison)
    comparison.measured_run = new_ids.get(comparison.measured_run)
    if comparison.against != REFERENCE_VALUES:
        comparison.against = new_ids.get(comparison.against)
    model.set_comparison(comparison)
