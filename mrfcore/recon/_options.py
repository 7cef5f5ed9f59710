"""Option dataclasses shared by the reconstruction methods.

Kept free of heavy imports: the method registry imports every method module to list
them, and only running a method loads numpy-heavy, scipy and torch code.
"""

from __future__ import annotations

from dataclasses import dataclass

from mrfcore.methods import option

__all__ = ["CommonOptions", "IterativeOptions"]


@dataclass
class CommonOptions:
    """Options every reconstruction method has (the coil and density handling)."""

    coil_maps: str = option(
        "walsh",
        label="Coil maps",
        choices=("walsh", "espirit"),
        help="Sensitivities from the time-averaged data: adaptive combination (Walsh) "
        "or ESPIRiT (sigpy). Ignored for single-coil data.",
    )
    density: str = option(
        "auto",
        label="Density compensation",
        choices=("auto", "pipe-menon", "none"),
        help="auto: the scan's own weights when it has them, else Pipe–Menon weights "
        "of the time-averaged trajectory; none: no compensation.",
    )
    coil_compression: int = option(
        0,
        label="Virtual coils",
        minimum=0,
        maximum=1024,
        help="Compress the coils to this many virtual coils (SVD of the raw data) first. "
        "0: automatic, the fewest that keep 99.9 % of the data's energy (8 simulated "
        "birdcage coils → 4, PSNR −0.1 dB, twice as fast); the number of coils or more "
        "keeps them all.",
        advanced=True,
    )


@dataclass
class IterativeOptions(CommonOptions):
    """Options of the FISTA-based methods."""

    max_iterations: int = option(
        40,
        label="Maximum iterations",
        minimum=1,
        maximum=1000,
        help="FISTA iterations at most.",
    )
    tolerance: float = option(
        1e-3,
        label="Tolerance",
        minimum=0.0,
        maximum=1.0,
        help="Stop when the relative change of the images between iterations falls below this.",
    )
    weighting: str = option(
        "density",
        label="Data weighting",
        choices=("density", "none"),
        help="density: weighted least squares with the density compensation (faster "
        "convergence); none: plain least squares.",
        advanced=True,
    )
    warm_start: bool = option(
        True,
        label="Start from ZF",
        help="Start the iterations from the (optimally scaled) ZF images instead of zero.",
    )
