"""Choice of compute device, made in one place and passed down.

``select_device(None)`` or ``"auto"`` picks the first CUDA GPU when one is present, else
the CPU.  An explicit choice always wins, and one that is not available is an error
rather than a silent fallback.  Apple's MPS is used only when asked for: it lacks
complex arithmetic in parts of torch that the reconstructions need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class DeviceInfo:
    """A compute device a user can choose."""

    name: str
    """torch device string, e.g. ``"cpu"`` or ``"cuda:0"``."""
    label: str
    """What the GUI shows, e.g. ``"NVIDIA GeForce RTX 4090 (cuda:0)"``."""


def available_devices() -> list[DeviceInfo]:
    """All devices this machine offers; the CPU is always last."""
    import torch

    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            name = torch.cuda.get_device_name(index)
            devices.append(DeviceInfo(f"cuda:{index}", f"{name} (cuda:{index})"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(DeviceInfo("mps", "Apple GPU (mps)"))
    devices.append(DeviceInfo("cpu", "CPU"))
    return devices


def select_device(choice: str | torch.device | None = None) -> torch.device:
    """Resolve a user's device choice to a ``torch.device``.

    Parameters
    ----------
    choice
        ``None`` or ``"auto"``: CUDA if available, else CPU.  Anything else (``"cpu"``,
        ``"cuda"``, ``"cuda:1"``, ``"mps"``) is used as given.

    Raises
    ------
    ValueError
        If the requested device does not exist on this machine.
    """
    import torch

    if choice is None or (isinstance(choice, str) and choice.lower() == "auto"):
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError as error:
        raise ValueError(f"unknown compute device {choice!r}: {error}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"compute device {choice!r} was requested but no CUDA GPU is available"
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"compute device {choice!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist"
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"compute device {choice!r} was requested but MPS is not available")
    return device
