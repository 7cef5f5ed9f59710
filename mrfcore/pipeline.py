"""The path from a file to maps: load → reconstruct → infer, with progress and provenance.

The GUI and the command line both run work through :func:`run_pipeline`, so a map made
in either records the same provenance and can be reproduced from its sidecar.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mrfcore import __version__
from mrfcore.data import ImageSeries, KSpaceData, QuantitativeMaps
from mrfcore.methods import (
    INFERENCE,
    RECONSTRUCTION,
    InferenceInputs,
    ReconstructionInputs,
    options_to_dict,
)
from mrfcore.progress import Progress, ProgressCallback, ensure_progress

__all__ = [
    "RunRequest",
    "RunResult",
    "default_request",
    "describe_input",
    "load_input",
    "run_pipeline",
]

DEFAULT_RECONSTRUCTION = "lrtv"
DEFAULT_INFERENCE = "dm"


@dataclass
class RunRequest:
    """Which methods to run, with which options, where.

    Attributes
    ----------
    reconstruction
        Registered reconstruction name; ignored (may be ``None``) for image input.
    reconstruction_options, inference_options
        Options dataclass instances; ``None`` means the method's defaults.
    inference
        Registered inference name.
    device
        ``"auto"``, ``"cpu"``, ``"cuda:0"`` ...
    rank
        Subspace rank s of the dictionary.
    grid
        Dictionary grid name: ``"paper"`` (T1 100:10:4000 ms × T2 20:2:600 ms) or
        ``"coarse"``.
    sequence
        Built-in name or schedule file, for inputs that carry no schedule (images).
    """

    reconstruction: str | None
    inference: str
    reconstruction_options: Any | None = None
    inference_options: Any | None = None
    device: str = "auto"
    rank: int = 10
    grid: str = "paper"
    sequence: str | None = None


@dataclass
class RunResult:
    """Maps and the images they came from, with timings (s) and provenance."""

    maps: QuantitativeMaps
    images: ImageSeries | None
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


def default_request(source: KSpaceData | ImageSeries) -> RunRequest:
    """The methods a first-time user gets: LRTV + dictionary matching when available."""
    recon_names = RECONSTRUCTION.names()
    inference_names = INFERENCE.names()
    if not inference_names:
        raise ValueError("no inference method is installed")
    reconstruction = None
    if isinstance(source, KSpaceData):
        if not recon_names:
            raise ValueError("no reconstruction method is installed")
        reconstruction = (
            DEFAULT_RECONSTRUCTION if DEFAULT_RECONSTRUCTION in recon_names else recon_names[0]
        )
    inference = DEFAULT_INFERENCE if DEFAULT_INFERENCE in inference_names else inference_names[0]
    return RunRequest(reconstruction=reconstruction, inference=inference)


def _grid(name: str):
    # One source of truth for named grids: mrfcore.dictionary.GRID_PRESETS.
    from mrfcore.dictionary import grid_preset

    return grid_preset(name)


def run_pipeline(
    source: KSpaceData | ImageSeries,
    request: RunRequest,
    progress: Progress | ProgressCallback | None = None,
    dictionary: Any | None = None,
) -> RunResult:
    """Reconstruct (for k-space) and infer maps.

    Parameters
    ----------
    source
        Raw data, or a TSMI / image series (then only inference runs).
    request
        Methods, options, device, rank and grid.
    progress
        Progress reporter; one bar over the stages dictionary → reconstruction →
        inference.  Raises :class:`mrfcore.progress.Cancelled` when stopped.
    dictionary
        A ready dictionary (skips the cache lookup), e.g. when running several methods.
    """
    from mrfcore.device import select_device
    from mrfcore.dictionary import load_or_build_dictionary
    from mrfcore.sequences import load_sequence

    progress = ensure_progress(progress)
    device = select_device(request.device)
    timings: dict[str, float] = {}
    sequence = source.sequence
    if request.sequence is not None:
        sequence = load_sequence(request.sequence)
    if sequence is None:
        raise ValueError(
            f"{source.source or 'the input'} carries no MRF schedule; choose a sequence"
        )
    is_kspace = isinstance(source, KSpaceData)
    recon_info = RECONSTRUCTION.get(request.reconstruction) if is_kspace else None
    inference_info = INFERENCE.get(request.inference)
    dictionary_end = 0.25 if dictionary is None else 0.0
    recon_end = 0.8 if is_kspace else dictionary_end

    start = time.perf_counter()
    if dictionary is None:
        dictionary = load_or_build_dictionary(
            sequence,
            _grid(request.grid),
            rank=request.rank,
            device=device,
            progress=progress.stage(0.0, dictionary_end, "dictionary"),
        )
    timings["dictionary_s"] = time.perf_counter() - start

    images: ImageSeries
    recon_options = None
    if is_kspace:
        assert recon_info is not None
        recon_options = request.reconstruction_options or recon_info.default_options()
        start = time.perf_counter()
        images = recon_info.run(
            ReconstructionInputs(source, dictionary.basis, str(device)),
            recon_options,
            progress.stage(dictionary_end, recon_end, recon_info.label),
        )
        timings["reconstruction_s"] = time.perf_counter() - start
    else:
        images = (
            source
            if source.sequence is not None
            else ImageSeries(
                source.data,
                source.geometry,
                source.basis,
                sequence,
                source.source,
                source.provenance,
            )
        )

    inference_options = request.inference_options or inference_info.default_options()
    start = time.perf_counter()
    maps = inference_info.run(
        InferenceInputs(images, dictionary, str(device)),
        inference_options,
        progress.stage(recon_end, 1.0, inference_info.label),
    )
    timings["inference_s"] = time.perf_counter() - start

    provenance = {
        "software": {
            "name": "MRF Studio",
            "version": __version__,
            "python": platform.python_version(),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_file": source.source,
        "sequence": {
            "name": sequence.name,
            "hash": sequence.content_hash(),
            "frames": sequence.n_frames,
            "readout": sequence.readout,
        },
        "dictionary": {
            "atoms": dictionary.n_atoms,
            "rank": dictionary.rank,
            "grid": request.grid,
            "energy_captured": float(dictionary.energy_captured),
        },
        "reconstruction": None
        if recon_info is None
        else {
            "method": recon_info.name,
            "label": recon_info.label,
            "options": options_to_dict(recon_options),
        },
        "inference": {
            "method": inference_info.name,
            "label": inference_info.label,
            "options": options_to_dict(inference_options),
        },
        "device": str(device),
        "timings_s": dict(timings),
        "method_details": {**images.provenance, **maps.provenance},
    }
    maps.provenance = provenance
    return RunResult(maps=maps, images=images, timings=timings, provenance=provenance)


def load_input(path: str | Path, **kwargs: Any) -> KSpaceData | ImageSeries:
    """Open a raw or image input; see :func:`mrfcore.io.loading.open_input`."""
    from mrfcore.io.loading import open_input

    return open_input(path, **kwargs)


def describe_input(data: KSpaceData | ImageSeries | QuantitativeMaps) -> dict[str, str]:
    """What the data panel and ``mrf info`` show about loaded data."""
    geometry = data.geometry
    info = {
        "source": str(Path(data.source).name) if getattr(data, "source", None) else "(in memory)",
        "matrix": " × ".join(str(n) for n in geometry.matrix),
        "voxel size": " × ".join(f"{v:g}" for v in geometry.voxel_size_mm) + " mm",
        "field of view": " × ".join(f"{v:g}" for v in geometry.fov_mm) + " mm",
    }
    if isinstance(data, KSpaceData):
        info = {
            "kind": "raw k-space",
            **info,
            "coils": str(data.n_coils),
            "frames": str(data.n_frames),
            "interleaves per frame": str(data.n_interleaves),
            "readout samples": str(data.n_readout),
        }
        trajectory = data.metadata.get("trajectory_type") or data.metadata.get("trajectory_kind")
        if trajectory:
            info["trajectory"] = str(trajectory)
        if data.metadata.get("trajectory_units"):
            info["trajectory units"] = str(data.metadata["trajectory_units"])
    elif isinstance(data, ImageSeries):
        kind = (
            f"subspace images (rank {data.data.shape[0]})"
            if data.in_subspace
            else f"image series ({data.data.shape[0]} frames)"
        )
        info = {"kind": kind, **info}
    else:
        info = {"kind": "quantitative maps", **info}
    sequence = getattr(data, "sequence", None)
    if sequence is not None:
        info["sequence"] = f"{sequence.name} ({sequence.n_frames} frames, {sequence.readout})"
    return info
