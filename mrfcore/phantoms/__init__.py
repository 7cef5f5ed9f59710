"""Numerical phantoms with known T1, T2 and PD: a BrainWeb brain slice, the ISMRM/NIST
system phantom and the EUROSPIN TO5 test object (numpy/scipy only, no torch).

>>> from mrfcore.phantoms import PHANTOMS, roi_masks, reference_table
>>> phantom = PHANTOMS["nist"](matrix=200, field_strength_t=3.0, plate="T2")
>>> truth = phantom.ground_truth()          # mrfcore.data.GroundTruth
>>> rois = roi_masks(phantom)               # {"T2-1": bool (200, 200), ...}

Axis conventions, partial-volume fractions and the ground-truth definition are described
in :mod:`mrfcore.phantoms.base`; sources of every value in each phantom's module.
"""

from collections.abc import Callable

from mrfcore.phantoms.base import Phantom, ReferenceRow, reference_table, roi_masks
from mrfcore.phantoms.brain import brain_phantom, brain_tissue_table
from mrfcore.phantoms.eurospin import eurospin_phantom
from mrfcore.phantoms.nist import nist_phantom
from mrfcore.phantoms.reference_values import (
    NIST_BATCHES,
    ReferenceSet,
    ReferenceValue,
    eurospin_reference_sets,
    eurospin_reference_values,
    fit_initial_values,
    nist_reference_sets,
    nist_reference_values,
    parse_reference_csv,
)

PHANTOMS: dict[str, Callable[..., Phantom]] = {
    "brain": brain_phantom,
    "nist": nist_phantom,
    "eurospin": eurospin_phantom,
}

__all__ = [
    "NIST_BATCHES",
    "PHANTOMS",
    "Phantom",
    "ReferenceRow",
    "ReferenceSet",
    "ReferenceValue",
    "brain_phantom",
    "brain_tissue_table",
    "eurospin_phantom",
    "eurospin_reference_sets",
    "eurospin_reference_values",
    "fit_initial_values",
    "nist_phantom",
    "nist_reference_sets",
    "nist_reference_values",
    "parse_reference_csv",
    "reference_table",
    "roi_masks",
]
