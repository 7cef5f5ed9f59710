import numpy as np
import pytest
import sigpy

from mrfcore import nufft


@pytest.mark.parametrize("shape", [(32, 32), (31, 24), (12, 10, 8)])
def test_forward_matches_sigpy_and_adjoint_is_adjoint(shape):
    rng = np.random.default_rng(0)
    ndim = len(shape)
    coords = (rng.uniform(-0.5, 0.5, size=(500, ndim)) * np.array(shape)).astype(np.float64)
    images = rng.standard_normal((3, *shape)) + 1j * rng.standard_normal((3, *shape))
    ours = nufft.forward(images, coords, eps=1e-9)
    reference = np.stack([sigpy.nufft(image, coords, oversamp=2.0, width=8) for image in images])
    assert np.linalg.norm(ours - reference) / np.linalg.norm(reference) < 1e-4
    values = rng.standard_normal((3, 500)) + 1j * rng.standard_normal((3, 500))
    back = nufft.adjoint(values, coords, shape, eps=1e-9)
    lhs = np.vdot(values, ours)
    rhs = np.vdot(back, images)
    assert abs(lhs - rhs) / abs(lhs) < 1e-8


def test_exact_dft_at_integer_points_single_precision():
    shape = (16, 16)
    image = np.zeros(shape, np.complex64)
    image[8 + 3, 8 - 2] = 1.0  # pixel at centred position (3, -2)
    k = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, -3.0]], np.float32)
    values = nufft.forward(image, k)
    expected = np.exp(-2j * np.pi * (k @ np.array([3, -2])) / 16) / 16
    assert values.dtype == np.complex64
    assert np.allclose(values, expected, atol=1e-6)


def test_map_parallel_keeps_order():
    assert nufft.map_parallel(lambda i: i * i, range(10), workers=2) == [i * i for i in range(10)]


def test_bad_coordinates_are_refused():
    with pytest.raises(ValueError, match="coordinates must have shape"):
        nufft.forward(np.zeros((8, 8), np.complex64), np.zeros((5, 3)))
