"""The frozen parameters of one regional analysis run (what ``glacierlab report`` and the notebook pass in)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunParams:
    """Parameters of one regional analysis.

    Attributes:
        region: Catalog region id.
        date: Scene key of the main scene (None: the region's default).
        bbox: Optional window (lon_min, lat_min, lon_max, lat_max; EPSG:4326).
        checkpoint: Checkpoint path ("" = the shipped model when it fits the scene).
        out_dir: The region's output folder ("" = write no files).
        level: The one interval level of every area and change (0-1, default 0.95).
        window: Model window in pixels (0 = the checkpoint's).
        tta: Test-time augmentation (8 flips and rotations).
        batch_size: Windows per forward pass.
        started: When the run started (UTC).
    """

    region: str
    date: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    checkpoint: str = ""
    out_dir: str = ""
    level: float = 0.95
    window: int = 0
    tta: bool = False
    batch_size: int = 16
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC), compare=False)

    def __post_init__(self) -> None:
        if self.bbox is not None:  # a notebook's list becomes a tuple of floats (frozen, hashable)
            object.__setattr__(self, "bbox", tuple(float(v) for v in self.bbox))

    @property
    def predict(self) -> dict[str, Any]:
        """Prediction option overrides (passed to ``predict_scene``)."""
        return {"tta": self.tta, "batch_size": self.batch_size, **({"window": self.window} if self.window else {})}

    @property
    def parameters(self) -> dict[str, Any]:
        """The run's parameters as the provenance record stores them."""
        return {
            "region": self.region,
            "date": self.date,
            "bbox": list(self.bbox) if self.bbox else None,
            "checkpoint": self.checkpoint,
            "out_dir": self.out_dir,
            "window": self.window,
            "tta": self.tta,
            "batch_size": self.batch_size,
            "level": self.level,
        }
