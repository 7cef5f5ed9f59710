"""LR: least squares in the temporal subspace, ``argmin_X ‖y − F S V X‖²``, by FISTA.

No spatial prior: the subspace alone regularises.  Iterates on the Toeplitz normal
operator (:mod:`mrfcore.operators.toeplitz`); see :mod:`mrfcore.recon._iterative` for
the data weighting and the warm start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mrfcore.methods import RECONSTRUCTION, ReconstructionInputs
from mrfcore.progress import Progress
from mrfcore.recon._options import IterativeOptions

if TYPE_CHECKING:
    from mrfcore.data import ImageSeries

__all__ = ["LROptions", "LowRank"]


@dataclass
class LROptions(IterativeOptions):
    """LR has the common iterative options only."""


@RECONSTRUCTION.register("lr", label="LR (subspace least squares)", options=LROptions)
class LowRank:
    """Subspace-constrained least squares by accelerated gradient (FISTA), no spatial prior."""

    def run(
        self, inputs: ReconstructionInputs, options: LROptions, progress: Progress
    ) -> ImageSeries:
        from mrfcore.recon._iterative import reconstruct_subspace

        return reconstruct_subspace(inputs, options, progress, "lr")
