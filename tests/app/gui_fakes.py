"""Test doubles for the GUI tests: synthetic maps, fake methods and a fake pipeline.

The fakes stand in for the science so that these tests check the GUI's behaviour
(what it shows, what it calls, how it reacts) quickly and independently of the methods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mrfcore.data import Geometry, ImageSeries, QuantitativeMaps
from mrfcore.methods import MethodInfo, option


def synthetic_maps(shape=(64, 48), seed=0, t1_offset=0.0, noise=0.0) -> QuantitativeMaps:
    """T1 rising along x (500–2000 ms), T2 along y (40–200 ms), PD 0.5–1, a disc mask."""
    rng = np.random.default_rng(seed)
    nx, ny = shape[:2]
    x, y = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    t1 = 500 + 1500 * x / (nx - 1) + t1_offset
    t2 = 40 + 160 * y / (ny - 1)
    pd = 0.5 + 0.5 * (x + y) / (nx + ny - 2)
    if noise:
        t1 = t1 + rng.normal(0, noise, t1.shape)
    mask = (x - nx / 2) ** 2 / (nx / 2) ** 2 + (y - ny / 2) ** 2 / (ny / 2) ** 2 <= 1.0
    maps = {"t1": t1, "t2": t2, "pd": pd}
    if len(shape) == 3:
        maps = {k: np.repeat(v[:, :, None], shape[2], axis=2) for k, v in maps.items()}
        mask = np.repeat(mask[:, :, None], shape[2], axis=2)
    arrays = {k: np.where(mask, v, np.nan).astype(np.float32) for k, v in maps.items()}
    return QuantitativeMaps(
        t1_ms=arrays["t1"],
        t2_ms=arrays["t2"],
        pd=arrays["pd"],
        mask=mask,
        geometry=Geometry(shape, (1.0,) * len(shape)),
        extra={"match_correlation": np.where(mask, 0.99, np.nan).astype(np.float32)},
        units={"match_correlation": ""},
        provenance={"note": "synthetic"},
    )


@dataclass
class FakeReconOptions:
    iterations: int = option(20, label="Iterations", minimum=1, maximum=500, help="FISTA steps")
    lam: float = option(
        0.2,
        label="TV weight λ",
        unit="× ZF scale",
        minimum=0.0,
        maximum=10.0,
        help="Strength of the total-variation prior",
    )
    coil_maps: str = option("walsh", label="Coil maps", choices=("walsh", "espirit"))
    toeplitz: bool = option(True, label="Toeplitz", advanced=True, help="FFT-only normal operator")


@dataclass
class FakeInferenceOptions:
    batch: int = option(4096, label="Batch size", minimum=1, advanced=True)


class _Never:
    def run(self, inputs, options, progress):  # pragma: no cover - the pipeline is faked
        raise AssertionError("the fake pipeline runs instead")


FAKE_RECON = [
    MethodInfo("fake_lrtv", "Fake LRTV", "reconstruction", FakeReconOptions, _Never, "A test."),
    MethodInfo("fake_zf", "Fake ZF", "reconstruction", FakeInferenceOptions, _Never, "Another."),
]
FAKE_INFERENCE = [
    MethodInfo("fake_dm", "Fake DM", "inference", FakeInferenceOptions, _Never, "Matching."),
]


@dataclass
class FakeRunResult:
    maps: QuantitativeMaps
    images: ImageSeries | None
    timings: dict
    provenance: dict


class FakePipeline:
    """Stands in for mrfcore.pipeline: a job of ``steps`` × ``step_s`` reporting progress."""

    def __init__(self, steps=20, step_s=0.02, fail=None):
        self.steps = steps
        self.step_s = step_s
        self.fail = fail
        self.requests = []
        self.maps = synthetic_maps()

    def run_pipeline(self, source, request, progress=None):
        self.requests.append(request)
        start = time.perf_counter()
        for step in range(self.steps):
            progress(step, self.steps, f"iteration {step + 1}")
            deadline = time.perf_counter() + self.step_s
            while time.perf_counter() < deadline:
                # Busy work that lets go of the GIL between pieces, as numpy and torch
                # kernels do.  (A worker spinning in pure Python starved the Qt main
                # thread on an idle 2-core machine; the methods compute in numpy/torch.)
                sum(range(200))
                time.sleep(0)
            if self.fail is not None and step == self.steps // 2:
                raise self.fail
        progress(self.steps, self.steps, "done")
        images = ImageSeries(
            np.ones((3, *self.maps.geometry.matrix), np.complex64),
            self.maps.geometry,
            np.eye(5, 3, dtype=np.complex64),
        )
        elapsed = time.perf_counter() - start
        return FakeRunResult(self.maps, images, {"reconstruction_s": elapsed}, {"device": "cpu"})

    def load_input(self, path):
        return ImageSeries(
            np.ones((3, 64, 48), np.complex64),
            Geometry((64, 48), (1.0, 1.0)),
            np.eye(5, 3, dtype=np.complex64),
            source=str(path),
        )
