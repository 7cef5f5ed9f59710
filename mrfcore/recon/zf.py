"""ZF: zero-filled (gridding) reconstruction projected onto the subspace.

``X = Σ_c conj(S_c) V^H F^H (D y_c)``: every frame's data, density-compensated,
transformed back and projected onto the temporal subspace, coil-combined.  Computed as
one joint adjoint NUFFT per coil with s outputs (see :func:`mrfcore.operators.grid_frames`),
never frame by frame.  Fast and heavily aliased: the starting point of the other methods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mrfcore.methods import RECONSTRUCTION, ReconstructionInputs
from mrfcore.progress import Progress
from mrfcore.recon._options import CommonOptions

if TYPE_CHECKING:
    from mrfcore.data import ImageSeries

__all__ = ["ZFOptions", "ZeroFilled", "zero_filled"]


@dataclass
class ZFOptions(CommonOptions):
    """ZF has only the common coil and density options."""


def zero_filled(
    inputs: ReconstructionInputs, options: ZFOptions | None = None, progress: Progress | None = None
) -> ImageSeries:
    """The ZF subspace images (s, *N) of ``inputs``; see :class:`ZeroFilled`."""
    from mrfcore.recon._common import make_series, prepare, subspace_adjoint

    options = ZFOptions() if options is None else options
    progress = Progress() if progress is None else progress
    prepared = prepare(inputs, options, progress.stage(0.0, 0.5, "prepare"))
    start = time.perf_counter()
    images = subspace_adjoint(prepared, progress=progress.stage(0.5, 1.0, "ZF"))
    return make_series(
        images,
        inputs,
        prepared,
        "zf",
        options,
        timings_s={"adjoint": time.perf_counter() - start},
    )


@RECONSTRUCTION.register("zf", label="ZF (gridding)", options=ZFOptions)
class ZeroFilled:
    """Zero-filled gridding: density-compensated adjoint NUFFT projected onto the subspace.

    Non-iterative and fast; strongly aliased for one interleaf per frame.
    """

    def run(
        self, inputs: ReconstructionInputs, options: ZFOptions, progress: Progress
    ) -> ImageSeries:
        return zero_filled(inputs, options, progress)
