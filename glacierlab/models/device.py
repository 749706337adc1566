"""Where a model runs: one device resolver for training, inference and batch workers."""

from __future__ import annotations

import torch

from glacierlab.errors import ConfigError, unknown_name


def available_devices() -> list[str]:
    """The devices a user may choose: ``auto``, ``cpu`` and one ``cuda:i`` per visible GPU."""
    return ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values are checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device={device!r} but no CUDA GPU is visible to torch; use device='cpu' or 'auto'."
        )
    if not device.startswith(("cpu", "cuda")):
        raise unknown_name("device", device, ("auto", "cpu", "cuda", "cuda:0"))
    return device
