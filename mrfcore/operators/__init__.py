"""Linear operators of the MRF forward model, and what they are built from.

- :mod:`~mrfcore.operators.base`: composable operators with adjoint and normal views.
- :class:`NufftOp` (per-frame NUFFT, CPU), :class:`CoilOp`, :class:`SubspaceOp`,
  :class:`DiagonalOp`: the pieces of ``A = F S V``.
- :func:`trajectory_density` (from :func:`annulus_density` or
  :func:`pipe_menon_density`): density compensation of the time-averaged trajectory,
  per frame.
- :class:`FrameGroups`, :func:`grid_frames`: the joint adjoint NUFFT used by ZF, VS and
  to form ``A^H y`` once.
- :func:`toeplitz_kernel`, :class:`ToeplitzNormal`: ``A^H A`` by FFTs, for iterations.
- :mod:`~mrfcore.operators.coilmaps`: Walsh and ESPIRiT maps, coil compression.

Importing this package imports torch (it is not imported by ``import mrfcore``).
"""

from mrfcore.operators.base import Adjoint, Compose, Identity, LinearOperator
from mrfcore.operators.coil import CoilOp
from mrfcore.operators.density import (
    DiagonalOp,
    annulus_density,
    frame_density,
    pipe_menon_density,
    trajectory_density,
)
from mrfcore.operators.frames import FrameGroups, grid_frames
from mrfcore.operators.nufft_op import NufftOp
from mrfcore.operators.subspace import SubspaceOp
from mrfcore.operators.toeplitz import ToeplitzNormal, toeplitz_kernel

__all__ = [
    "Adjoint",
    "CoilOp",
    "Compose",
    "DiagonalOp",
    "FrameGroups",
    "Identity",
    "LinearOperator",
    "NufftOp",
    "SubspaceOp",
    "ToeplitzNormal",
    "annulus_density",
    "frame_density",
    "grid_frames",
    "pipe_menon_density",
    "toeplitz_kernel",
    "trajectory_density",
]
