"""The subspace normal operator A^H A by FFTs alone (Toeplitz embedding).

For the model ``y_{c,t} = F_t S_c Σ_s V[t, s] X_s`` with per-sample weights D,

    (A^H D A X)_a = Σ_c conj(S_c) Σ_b K_ab ⊛ (S_c X_b),
    K_ab(d) = Σ_t conj(V[t, a]) V[t, b] · PSF_t(d),
    PSF_t(d) = Σ_{j ∈ frame t} D_tj e^{i2π k_j·d / N} / prod(N),

and ``⊛`` is a linear convolution over image offsets ``d ∈ (−N, N)``, exact as a
circular one on a 2N grid.  The kernels are built once (:func:`toeplitz_kernel`); each
application is then one zero-padded FFT per coil and component, an s×s multiply per
frequency, and one cropped inverse FFT, all in torch on the chosen device.

Kernel build: each kernel is one adjoint NUFFT of the weights ``conj(V_ta) V_tb D_tj``
over all distinct points (frames sharing points are summed first, see
:class:`~mrfcore.operators.frames.FrameGroups`).  Real weights give a point-spread
function with ``p(−d) = conj(p(d))`` whose FFT is real, so two real weight vectors
share one complex transform (real and imaginary parts of its FFT), and ``K_ba`` is
``conj(K_ab)`` per frequency: s(s+1)/2 real vectors for a real basis, s² for a complex
one, in half as many transforms, all in one finufft call.
"""

from __future__ import annotations

import numpy as np
import torch

from mrfcore import nufft
from mrfcore.operators import _parallel
from mrfcore.operators.base import LinearOperator
from mrfcore.operators.frames import FrameGroups
from mrfcore.progress import Progress

__all__ = ["ToeplitzNormal", "toeplitz_kernel"]

# Imaginary weight vectors this small relative to the largest weight are skipped: a
# basis that is real up to float32 noise (FISP dictionaries: |Im V| ~ 1e-5 |V|) then
# costs half the transforms, and the operator changes by ~1e-5 relative (measured with
# such a basis), below the accuracy of the kernel build itself.
_NEGLIGIBLE = 1e-4


def toeplitz_kernel(
    groups: FrameGroups,
    basis: np.ndarray,
    shape: tuple[int, ...],
    density: np.ndarray | None = None,
    eps: float = 1e-6,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Frequency-domain kernels ``K̂[a, b]`` of the subspace normal operator.

    Parameters
    ----------
    groups
        Distinct frame trajectories (1/FOV units, edge ±N/2).
    basis
        V, complex, shape (frames, s).
    shape
        Image grid N.
    density
        Optional data weights D, shape (frames, points) (weighted least squares).
    eps
        finufft accuracy of the kernel build.

    Returns
    -------
    torch.Tensor
        complex64 on the CPU, shape (s, s, *2N), Hermitian per frequency
        (``K̂[b, a] = conj(K̂[a, b])``).  The circulant it defines need not be positive
        semi-definite; its cropped (Toeplitz) part, the normal operator, is.
    """
    shape = tuple(int(n) for n in shape)
    basis = np.asarray(basis, dtype=np.complex64)
    frames, rank = basis.shape
    if frames != groups.n_frames:
        raise ValueError(f"basis has {frames} frames but the trajectory has {groups.n_frames}")
    upper_a, upper_b = np.triu_indices(rank)
    pair_weights = (basis.conj()[:, upper_a] * basis[:, upper_b]).T  # (pairs, frames)
    points = groups.points.shape[1]
    sample_weights = (
        np.ones((1, frames, points), np.float32)
        if density is None
        else np.asarray(density, np.float32)[None]
    )
    # Real weight vectors: the real part of every pair, the imaginary part where it is
    # not negligible (never on the diagonal).  Each is (pair, part), part 0 real, 1 imag.
    scale = float(np.abs(pair_weights).max()) or 1.0
    imaginary = np.flatnonzero(np.abs(pair_weights.imag).max(axis=1) > _NEGLIGIBLE * scale)
    specs = [(pair, 0) for pair in range(len(upper_a))] + [(pair, 1) for pair in imaginary]

    # Two real weight vectors share one complex transform: packing them as the real and
    # imaginary parts of one complex weight per frame is the same as packing the
    # weighted samples, since D is real.
    real_weights = np.stack(
        [pair_weights[pair].imag if part else pair_weights[pair].real for pair, part in specs]
    )
    if len(real_weights) % 2:
        real_weights = np.concatenate([real_weights, np.zeros_like(real_weights[:1])])
    packed_weights = (real_weights[0::2] + 1j * real_weights[1::2]).astype(np.complex64)

    grid = tuple(2 * n for n in shape)
    dims = tuple(range(1, len(shape) + 1))
    coords = 2 * groups.flat_points  # 2k on the 2N grid: e^{i2π k·d/N}, d ∈ [−N, N)
    norm = np.float32(np.sqrt(np.prod(grid)) / np.prod(shape))
    kernel = torch.zeros((rank, rank, *grid), dtype=torch.complex64)
    # Chunks of transforms bound the memory (each is one complex per distinct sample).
    per_chunk = 8
    transforms = len(packed_weights)
    for start in range(0, transforms, per_chunk):
        stop = min(start + per_chunk, transforms)

        def transform(piece: slice, chunk: np.ndarray = packed_weights[start:stop]) -> np.ndarray:
            # Each thread weights its own samples: done before the transforms, the
            # products took a quarter of the build, on one core.
            reduced = groups.reduce(chunk[piece], sample_weights)[0]
            values = reduced.reshape(reduced.shape[0], -1)
            return nufft.adjoint(values, coords, grid, eps=eps, in_order=True)

        pieces = _parallel.split(stop - start, nufft.worker_count())
        psf = np.concatenate(nufft.map_parallel(transform, pieces))
        psf = torch.from_numpy(psf * norm)
        # The offset −N lies outside (−N, N): zero it so the circulant is exactly Hermitian.
        for axis in range(len(shape)):
            psf.select(axis + 1, 0).zero_()
        spectra = torch.fft.fftn(torch.fft.ifftshift(psf, dim=dims), dim=dims)
        real_kernels = torch.stack([spectra.real, spectra.imag], dim=1).reshape(-1, *grid)
        for (pair, part), values in zip(specs[2 * start : 2 * stop], real_kernels, strict=False):
            a, b = upper_a[pair], upper_b[pair]
            if part:
                kernel[a, b] += 1j * values
            else:
                kernel[a, b] += values
        if progress is not None:
            progress(stop, transforms, "Toeplitz kernel")
    for a, b in zip(upper_a, upper_b, strict=True):
        if a != b:
            kernel[b, a] = kernel[a, b].conj()
    return kernel


class ToeplitzNormal(LinearOperator):
    """``A^H D A`` on subspace images (s, *N) by FFTs, self-adjoint.

    Parameters
    ----------
    kernel
        From :func:`toeplitz_kernel`, shape (s, s, *2N).
    maps
        Coil sensitivities (coils, *N), or ``None`` for a single uniform coil.
    device
        Where the kernel, the maps and the work live.
    coil_chunk
        Coils transformed together: bounds the memory of the padded spectra, and small
        chunks stay in cache (2 was fastest here for 200×200, s = 10).
    """

    def __init__(
        self,
        kernel: torch.Tensor,
        maps: np.ndarray | torch.Tensor | None = None,
        device: str | torch.device = "cpu",
        coil_chunk: int = 2,
    ) -> None:
        rank = kernel.shape[0]
        grid = tuple(kernel.shape[2:])
        self.image_shape = tuple(n // 2 for n in grid)
        super().__init__((rank, *self.image_shape), (rank, *self.image_shape))
        self.kernel = kernel.to(device=device, dtype=torch.complex64)
        self.maps = (
            None if maps is None else torch.as_tensor(maps, device=device).to(torch.complex64)
        )
        if self.maps is not None and tuple(self.maps.shape[1:]) != self.image_shape:
            raise ValueError(
                f"coil maps {tuple(self.maps.shape)} do not match the kernel's image "
                f"shape {self.image_shape}"
            )
        self.coil_chunk = max(1, int(coil_chunk))
        self._flat_kernel = self.kernel.reshape(rank, rank, -1)

    @property
    def H(self) -> LinearOperator:  # noqa: N802
        return self

    def largest_eigenvalue_bound(self) -> float:
        """An upper bound of ‖A^H D A‖: the largest eigenvalue of any K̂(f).

        The circulant's largest eigenvalue bounds its cropped (Toeplitz) part, and coil maps with
        ``Σ_c |S_c|² ≤ m`` scale it by at most m.
        """
        per_frequency = self._flat_kernel.permute(2, 0, 1)
        largest = torch.linalg.eigvalsh(per_frequency).max().item()
        gain = 1.0 if self.maps is None else (self.maps.abs() ** 2).sum(0).max().item()
        return float(largest * gain)

    def _spectrum(self, images: torch.Tensor) -> torch.Tensor:
        # Zero-padded FFT, pruned: transform the last axis first (only N rows are not
        # zero), then each earlier axis, padding as it goes.
        ndim = len(self.image_shape)
        out = images
        for axis in range(ndim - 1, -1, -1):
            dim = out.ndim - ndim + axis
            out = torch.fft.fft(out, n=2 * self.image_shape[axis], dim=dim)
        return out

    def _crop_inverse(self, spectra: torch.Tensor) -> torch.Tensor:
        ndim = len(self.image_shape)
        out = spectra
        for axis in range(ndim):
            dim = out.ndim - ndim + axis
            out = torch.fft.ifft(out, dim=dim).narrow(dim, 0, self.image_shape[axis])
        return out

    def _multiply(self, spectra: torch.Tensor) -> torch.Tensor:
        """``out[c, a] = Σ_b K̂[a, b] · spectra[c, b]`` per frequency."""
        rank = spectra.shape[1]
        flat = spectra.reshape(spectra.shape[0], rank, -1)
        out = torch.empty_like(flat)
        # One complex multiply-add per (a, b) over all coils and frequencies; measured
        # faster here than a batched matmul over frequencies or real-arithmetic views.
        for a in range(rank):
            accumulator = out[:, a]
            torch.mul(flat[:, 0], self._flat_kernel[a, 0], out=accumulator)
            for b in range(1, rank):
                accumulator.addcmul_(flat[:, b], self._flat_kernel[a, b])
        return out.reshape(spectra.shape)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.maps is None:
            return self._crop_inverse(self._multiply(self._spectrum(x[None])))[0]
        result = torch.zeros_like(x)
        for start in range(0, self.maps.shape[0], self.coil_chunk):
            maps = self.maps[start : start + self.coil_chunk]
            coil_images = maps[:, None] * x[None]
            filtered = self._crop_inverse(self._multiply(self._spectrum(coil_images)))
            result += (maps.conj()[:, None] * filtered).sum(0)
        return result

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._forward(y)
