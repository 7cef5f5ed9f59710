"""The numpy transcriptions of sigpy's spiral design and birdcage coils agree with sigpy.

They exist so that simulating a scan does not import sigpy (seconds of start-up on the
demo's first run); these tests keep them faithful.
"""

import numpy as np
import pytest

from mrfcore.acquisition.coils import _birdcage_maps, birdcage_sensitivities
from mrfcore.acquisition.trajectories import (
    _GYROMAGNETIC_RAD_PER_T_S,
    _kim_spiral_arm,
    make_trajectory,
)

sigpy_mri = pytest.importorskip("sigpy.mri")


@pytest.mark.parametrize(
    ("fov_m", "matrix", "f_sampling", "interleaves", "alpha", "gm", "sm"),
    [
        (0.2, 200, 1.0, 24, 1.5, 24e-3, 120.0),  # the demo's arm
        (0.24, 64, 0.5, 16, 1.0, 40e-3, 150.0),  # uniform density, oversampled readout
        (0.2, 48, 1.0, 22, 2.0, 10e-3, 200.0),  # gradient-limited end
        (0.3, 128, 1.0, 8, 1.5, 80e-3, 20.0),  # slew-limited throughout
    ],
)
def test_spiral_arm_equals_sigpy(fov_m, matrix, f_sampling, interleaves, alpha, gm, sm):
    expected = sigpy_mri.spiral(
        fov_m, matrix, f_sampling, 1.0, interleaves, alpha, gm, sm, _GYROMAGNETIC_RAD_PER_T_S
    )
    arm = _kim_spiral_arm(fov_m, matrix, f_sampling, interleaves, alpha, gm, sm,
                          _GYROMAGNETIC_RAD_PER_T_S)  # fmt: skip
    n = expected.shape[0] // interleaves
    assert arm.shape == (n,) and n > 20 and np.isfinite(arm).all()
    np.testing.assert_allclose(arm.real, expected[:n, 0], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(arm.imag, expected[:n, 1], rtol=1e-12, atol=1e-9)


def test_spiral_trajectory_reaches_the_edge():
    trajectory = make_trajectory("spiral", 5, matrix=200, fov_mm=200.0)
    radius = np.hypot(*np.moveaxis(trajectory.coords, -1, 0))
    assert trajectory.coords.shape == (5, 1, 1508, 2)
    np.testing.assert_allclose(radius[:, 0, -1], 100.0, rtol=1e-5)
    assert radius[:, 0, 0].max() < 1e-3


@pytest.mark.parametrize(("coils", "shape", "radius"), [(8, (40, 36), 1.5), (3, (17, 20), 1.2)])
def test_birdcage_equals_sigpy(coils, shape, radius):
    expected = sigpy_mri.birdcage_maps((coils, *shape), r=radius, dtype=np.complex128)
    np.testing.assert_allclose(_birdcage_maps(coils, shape, radius), expected, rtol=1e-12)
    norm = np.sqrt(np.sum(np.abs(expected) ** 2, axis=0, keepdims=True))
    np.testing.assert_allclose(
        birdcage_sensitivities(coils, shape, radius), (expected / norm).astype(np.complex64)
    )
