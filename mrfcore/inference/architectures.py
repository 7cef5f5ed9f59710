"""The torch networks behind the learned inference methods (MRFResnet, ResCNN-1D, KM).

Kept apart from the method modules so that registering the methods (which the GUI does
before it needs torch) never imports torch; everything here does.

Shapes: ``B`` fingerprints per batch, ``s`` subspace rank, ``T`` time frames.  Network
outputs are the *scaled* targets of :mod:`mrfcore.inference.models` (see
``TargetScaling``), never milliseconds directly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "KernelMachine",
    "Standardise",
    "MRFResnetDecoder",
    "MRFResnetEncoder",
    "MRFResnetInference",
    "MRFResnetNet",
    "RandomFourierFeatures",
    "ResCNN1D",
    "count_parameters",
    "rescnn_macs",
]


def count_parameters(module: nn.Module, include_buffers: bool = False) -> int:
    """Numbers a module learns; with ``include_buffers`` also its fixed numbers (random
    features, input standardisation), except batch-norm running statistics."""
    count = sum(p.numel() for p in module.parameters())
    if include_buffers:
        count += sum(b.numel() for name, b in module.named_buffers()
                     if name.rsplit(".", 1)[-1] not in _BATCH_NORM_STATISTICS)
    return count


_BATCH_NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


class Standardise(nn.Module):
    """``(x − mean) / scale`` per input feature, with fixed buffers set from training data
    (identity until then).  Well-scaled inputs let a width-10 network resolve the small
    subspace coefficients beside the dominant first one."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))

    def fit(self, x: torch.Tensor) -> None:
        """Set mean and scale from samples ``x`` (B, features)."""
        self.mean.copy_(x.mean(0))
        self.scale.copy_(x.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


# ------------------------------------------------------------------------- MRFResnet


class ResidualBlock(nn.Module):
    """``x + W2 relu(W1 x + b1) + b2``: two fully connected layers of ``width`` units
    around an identity skip (no activation after the sum, so signed inputs survive)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.first = nn.Linear(width, width)
        self.second = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(torch.relu(self.first(x)))


class MRFResnetEncoder(nn.Module):
    """Fingerprint → scaled (T1, T2): residual MLP of Golbabaee et al.

    ``in_features`` values (s real parts, or 2s real and imaginary parts) are
    standardised (fixed mean and scale from the training data) and pass through an input
    layer only when ``in_features != width``; then ``blocks`` residual blocks
    of ``width`` units, a linear layer to the 2 outputs and a final ReLU (relaxation
    times are positive).
    """

    def __init__(self, in_features: int, width: int = 10, blocks: int = 6) -> None:
        super().__init__()
        self.standardise = Standardise(in_features)
        self.input = nn.Identity() if in_features == width else nn.Linear(in_features, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))
        self.output = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.output(self.blocks(self.input(self.standardise(x)))))


class MRFResnetDecoder(nn.Module):
    """Scaled (T1, T2) → clean fingerprint: ``shape_features`` values of the unit-norm,
    phase-aligned atom plus one value, the log of the atom's norm (for M0 = 1).  The
    inputs are standardised over the dictionary's parameters (fixed buffers)."""

    def __init__(self, shape_features: int, hidden: int = 300) -> None:
        super().__init__()
        self.standardise = Standardise(2)
        self.layers = nn.Sequential(
            nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, shape_features + 1)
        )

    def forward(self, targets: torch.Tensor) -> torch.Tensor:
        return self.layers(self.standardise(targets))


class MRFResnetNet(nn.Module):
    """Encoder and decoder of MRFResnet, saved and loaded together."""

    def __init__(self, in_features: int, width: int = 10, blocks: int = 6,
                 decoder_hidden: int = 300) -> None:
        super().__init__()
        self.encoder = MRFResnetEncoder(in_features, width, blocks)
        self.decoder = MRFResnetDecoder(in_features, decoder_hidden)


class MRFResnetInference:
    """A trained :class:`MRFResnetNet` prepared for fast inference (no autograd).

    The same functions as the network's encoder and decoder (equal to float32
    round-off), computed with fingerprints as *columns*: every layer is then one
    ``W @ X + b`` with a long ``X`` (width × batch), which BLAS runs several times faster
    on a CPU than the network's ``X @ Wᵀ`` with 10-wide rows (measured here on 40,000
    voxels, one thread: encoder 19 → 4 ms), and the ReLUs run in place.  The decoder's
    input standardisation is folded into its first layer.
    """

    def __init__(self, network: MRFResnetNet) -> None:
        encoder, decoder = network.encoder, network.decoder

        def column(vector: torch.Tensor) -> torch.Tensor:
            return vector.detach()[:, None].contiguous()

        def matrix(weight: torch.Tensor) -> torch.Tensor:
            return weight.detach().contiguous()

        inverse_scale = 1.0 / encoder.standardise.scale
        self.input_scale = column(inverse_scale)
        self.input_shift = column(-encoder.standardise.mean * inverse_scale)
        self.input_layer = (None if isinstance(encoder.input, nn.Identity)
                            else (matrix(encoder.input.weight), column(encoder.input.bias)))
        self.blocks = [(matrix(b.first.weight), column(b.first.bias), matrix(b.second.weight),
                        column(b.second.bias)) for b in encoder.blocks]
        self.output = (matrix(encoder.output.weight), column(encoder.output.bias))
        first, second = decoder.layers[0], decoder.layers[2]
        mean, scale = decoder.standardise.mean, decoder.standardise.scale
        self.decoder_first = (matrix(first.weight / scale),
                              column(first.bias - first.weight @ (mean / scale)))
        self.decoder_second = (matrix(second.weight), column(second.bias))

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, in_features) → (B, 2) scaled targets, as ``MRFResnetEncoder``."""
        x = torch.addcmul(self.input_shift, features.T, self.input_scale)
        if self.input_layer is not None:
            x = torch.addmm(self.input_layer[1], self.input_layer[0], x)
        for first, first_bias, second, second_bias in self.blocks:
            hidden = torch.addmm(first_bias, first, x).relu_()
            x = torch.addmm(x, second, hidden).add_(second_bias)
        return torch.addmm(self.output[1], self.output[0], x).relu_().T

    def decode(self, targets: torch.Tensor) -> torch.Tensor:
        """(B, 2) scaled targets → (B, in_features + 1), as ``MRFResnetDecoder``."""
        hidden = torch.addmm(self.decoder_first[1], self.decoder_first[0],
                             targets.T.contiguous()).relu_()
        return torch.addmm(self.decoder_second[1], self.decoder_second[0], hidden).T


# -------------------------------------------------------------------------- ResCNN-1D


class _ConvBlock(nn.Module):
    """Two kernel-k convolutions (c_in → c_out → c_out) with batch norm, a 1×1
    convolution on the skip path, ReLU, then max-pooling by 2 along time."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, padding=pad, bias=False),
            nn.BatchNorm1d(c_out),
            nn.ReLU(),
            nn.Conv1d(c_out, c_out, kernel, padding=pad, bias=False),
            nn.BatchNorm1d(c_out),
        )
        self.skip = nn.Conv1d(c_in, c_out, 1, bias=False)
        self.pool = nn.MaxPool1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.body(x) + self.skip(x)))


class ResCNN1D(nn.Module):
    """1-D residual CNN over the whole time course (B, in_channels, T) → scaled (T1, T2).

    Stem: two convolutions of ``stem_channels`` (kernel ``kernel``); then ``blocks``
    residual blocks, each doubling the channels (capped at ``max_channels``) and halving
    the time axis; global average pooling; a linear layer to 2 outputs and a ReLU.
    With the defaults: 32 → 64 → 128 → 256 → 512 channels, kernel 7.
    """

    def __init__(self, in_channels: int = 2, stem_channels: int = 32, blocks: int = 4,
                 kernel: int = 7, max_channels: int = 512) -> None:
        super().__init__()
        pad = kernel // 2
        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, stem_channels, kernel, padding=pad, bias=False),
            nn.BatchNorm1d(stem_channels),
            nn.ReLU(),
            nn.Conv1d(stem_channels, stem_channels, kernel, padding=pad, bias=False),
            nn.BatchNorm1d(stem_channels),
            nn.ReLU(),
        )
        layers = []
        channels = stem_channels
        for _ in range(blocks):
            wider = min(2 * channels, max_channels)
            layers.append(_ConvBlock(channels, wider, kernel))
            channels = wider
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(channels, 2)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.blocks(self.stem(x)).mean(dim=2)
        return torch.relu(self.head(features))


def rescnn_macs(model: ResCNN1D, n_frames: int) -> int:
    """Multiply-accumulates of one forward pass for one fingerprint of ``n_frames``
    (convolutions and the head; batch norm, ReLU and pooling are not counted)."""
    macs = 0
    length = n_frames
    for layer in model.stem:
        if isinstance(layer, nn.Conv1d):
            macs += layer.in_channels * layer.out_channels * layer.kernel_size[0] * length
    for block in model.blocks:
        for layer in [*block.body, block.skip]:
            if isinstance(layer, nn.Conv1d):
                macs += layer.in_channels * layer.out_channels * layer.kernel_size[0] * length
        length //= 2
    return macs + model.head.in_features * model.head.out_features


# ----------------------------------------------------------------------- kernel machine


class RandomFourierFeatures(nn.Module):
    """``z(x) = sqrt(2/D) cos(x Ω + φ)``: D random features approximating the Gaussian
    kernel ``exp(-||x - y||² / (2 ℓ²))`` (Rahimi & Recht 2007), Ω ~ N(0, 1/ℓ²),
    φ ~ U[0, 2π).  Ω and φ are fixed buffers, saved with the model."""

    def __init__(self, in_features: int, n_features: int, bandwidth: float = 1.0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        frequencies = torch.randn(in_features, n_features, generator=generator) / bandwidth
        phases = 2 * math.pi * torch.rand(n_features, generator=generator)
        self.register_buffer("frequencies", frequencies)
        self.register_buffer("phases", phases)
        self.bandwidth = float(bandwidth)

    @property
    def n_features(self) -> int:
        return int(self.phases.numel())

    def set_bandwidth(self, bandwidth: float) -> None:
        """Rescale the frequencies to a new bandwidth (the same random draw)."""
        self.frequencies.mul_(self.bandwidth / bandwidth)
        self.bandwidth = float(bandwidth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return math.sqrt(2.0 / self.n_features) * torch.cos(x @ self.frequencies + self.phases)


class RidgeHead(nn.Module):
    """Linear read-out ``z W + c`` of random features, fitted in closed form."""

    def __init__(self, n_features: int, n_outputs: int) -> None:
        super().__init__()
        self.register_buffer("weights", torch.zeros(n_features, n_outputs))
        self.register_buffer("intercept", torch.zeros(n_outputs))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.weights + self.intercept


class KernelMachine(nn.Module):
    """Kernel-machine baseline: one random-feature map and ridge read-out per output
    group.  Encoder: inputs standardised as MRFResnet's, then one group per target (T1,
    T2), ``encoder_features`` each, each with its own bandwidth; decoder: one group of
    ``decoder_features`` from the scaled (T1, T2) to the ``in_features`` shape values
    plus the log-norm."""

    def __init__(self, in_features: int, encoder_features: int = 1000,
                 decoder_features: int = 500, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.standardise = Standardise(in_features)
        self.encoder_maps = nn.ModuleList(
            RandomFourierFeatures(in_features, encoder_features, 1.0, generator)
            for _ in range(2)
        )
        self.encoder_heads = nn.ModuleList(RidgeHead(encoder_features, 1) for _ in range(2))
        self.decoder_map = RandomFourierFeatures(2, decoder_features, 1.0, generator)
        self.decoder_head = RidgeHead(decoder_features, in_features + 1)
        self.register_buffer("encoder_bandwidths", torch.ones(2))
        self.register_buffer("decoder_bandwidth", torch.ones(()))

    def sync_bandwidths(self) -> None:
        """Record the maps' bandwidths in buffers (so they are saved with the state)."""
        self.encoder_bandwidths.copy_(torch.tensor([m.bandwidth for m in self.encoder_maps]))
        self.decoder_bandwidth.fill_(self.decoder_map.bandwidth)

    def restore_bandwidths(self) -> None:
        """After loading a state: the maps' Python-side bandwidths from the buffers."""
        for rff, value in zip(self.encoder_maps, self.encoder_bandwidths.tolist(), strict=True):
            rff.bandwidth = float(value)
        self.decoder_map.bandwidth = float(self.decoder_bandwidth)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_features) → (B, 2) scaled targets (clamped at 0 like MRFResnet's ReLU)."""
        x = self.standardise(x)
        columns = [head(rff(x)) for rff, head in zip(self.encoder_maps, self.encoder_heads,
                                                      strict=True)]
        return torch.relu(torch.cat(columns, dim=1))

    def decode(self, targets: torch.Tensor) -> torch.Tensor:
        """(B, 2) scaled targets → (B, in_features + 1) shape values and log-norm."""
        return self.decoder_head(self.decoder_map(targets))
