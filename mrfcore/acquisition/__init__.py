"""Simulated MRF acquisitions: trajectories, coils, noise, B1 maps and raw data.

>>> from mrfcore.acquisition import ScanRecipe, simulate_recipe
>>> data = simulate_recipe(ScanRecipe(phantom="nist", matrix=64, coils=4))  # KSpaceData

The SNR convention is in :mod:`mrfcore.acquisition.coils`; demo scans in
:mod:`mrfcore.acquisition.demo`.  Submodules import sigpy/torch only when used.
"""

from mrfcore.acquisition.coils import (
    add_noise,
    birdcage_sensitivities,
    noise_sd_for_snr,
    object_mask,
    smooth_b1_map,
)
from mrfcore.acquisition.demo import DEMO_SCANS, demo_scan_path
from mrfcore.acquisition.scan import (
    ScanRecipe,
    TissueSignalModel,
    simulate_recipe,
    simulate_scan,
    tissue_signal_model,
)
from mrfcore.acquisition.trajectories import (
    ORDERINGS,
    TRAJECTORY_KINDS,
    SpiralDesign,
    Trajectory,
    analytic_density,
    cartesian_trajectory,
    make_trajectory,
    radial_trajectory,
    spiral_trajectory,
)

__all__ = [
    "DEMO_SCANS",
    "ORDERINGS",
    "TRAJECTORY_KINDS",
    "ScanRecipe",
    "SpiralDesign",
    "TissueSignalModel",
    "Trajectory",
    "add_noise",
    "analytic_density",
    "birdcage_sensitivities",
    "cartesian_trajectory",
    "demo_scan_path",
    "make_trajectory",
    "noise_sd_for_snr",
    "object_mask",
    "radial_trajectory",
    "simulate_recipe",
    "simulate_scan",
    "smooth_b1_map",
    "spiral_trajectory",
    "tissue_signal_model",
]
