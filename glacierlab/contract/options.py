"""One frozen set of inference settings that travels inside every checkpoint (:class:`PredictOptions`).

A checkpoint stores the options it should be run with (its header's ``options`` field): the paper
tiling for the authors' imported weights, window 96 and ``nodata="all"`` for the shipped lite model.
Every entry point (``predict_scene``, ``glacierlab predict`` / ``batch-predict``, the model-runner
widget, the reports, the notebooks, the evaluation helpers) starts from those stored options, so they
all make the same map; an explicit argument overrides one field::

    opts = options_for(ckpt)                 # the checkpoint's own settings
    opts = opts.replace(tta=True)            # one field changed, the rest kept
    predict_scene(ckpt, inputs, options=opts)  # or predict_scene(ckpt, inputs, tta=True)

Numpy only (no torch), JSON-serialisable with :meth:`PredictOptions.to_dict` / :meth:`from_dict`.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from glacierlab.contract.confidence import CONVENTIONS
from glacierlab.errors import ConfigError, UnknownNameError, unknown_name

TILING_MODES = ("edge", "paper")
"""``"edge"``: windows from the scene origin, the last one shifted back onto the edge (glacierlab's
default, no padding for scenes at least one window large); ``"paper"``: the authors' ``deploy.py`` grid
(centred zero padding to ``window * (size // window + 1)``, windows from the padded origin)."""
PAD_MODES = ("reflect", "constant")
NODATA_POLICIES = ("any", "all")
CALIBRATION_CHOICES = ("auto", "none", "kernel_ridge", "isotonic", "temperature")
PRECISIONS = ("auto", "float32", "bfloat16")
"""The precisions on offer (CLI ``--precision``, the model-runner widget, notebook parameters)."""
EXPERIMENTAL_PRECISIONS = ("int8",)
"""Accepted by the library but on no menu: int8 misses the 99.5 % agreement target on the shipped model
(``tests/accel/test_low_precision.py``); its record says ``experimental``."""
FILL_MODES = ("after_scaling", "before_scaling")
"""Where missing values (NaN) become 0: ``"after_scaling"`` (glacierlab: a missing band is 0 in the
model's normalised space) or ``"before_scaling"`` (the authors' ``compile_features``: raw 0, then min-max
scaling, so a missing band is ``-min / (max - min)``)."""


@dataclass(frozen=True)
class PredictOptions:
    """How a checkpoint maps a scene (GLAVITU_SPEC.md §5-6). Validated on construction.

    Attributes:
        window: Window side in pixels (the paper: 384), ≥ 8.
        stride: Step between windows in pixels, 1..window (the paper: 192).
        tiling: ``"edge"`` or ``"paper"`` (see :data:`TILING_MODES`).
        pad_mode: How ``"edge"`` tiling pads a scene smaller than a window: ``"reflect"`` or
            ``"constant"`` (zeros after normalisation). ``"paper"`` tiling always pads with zeros.
        nodata: ``"any"``: no data where any band of any group is missing; ``"all"``: only where every
            band is (partly missing pixels get 0 after normalisation, as in the paper's training).
        smoothing: Median-filter size of the mask (0 = off; odd; the paper's demo uses 3).
        calibration: ``"auto"`` (the checkpoint's calibrator if it has one), ``"none"`` (raw
            confidence) or a stored method (``"kernel_ridge"``, ``"isotonic"``, ``"temperature"``).
        confidence: Raw confidence convention: ``"entropy"`` (paper, 1 − H₂(p) in bits) or
            ``"maxprob"``.
        tta: Average the paper's 8 flips/rotations of every window (about 8× slower).
        mc_samples: Monte-Carlo dropout passes averaged (0 = off; ≥ 2 adds an ``uncertainty`` layer).
        batch_size: Windows per forward pass (memory, not results).
        location: Location input of location-encoded models: None (no encoding), ``"coordinates"``
            (coordinate encoding, per window centre), a region code such as ``"HMA"`` or
            ``"unknown"`` (region encoding), or a vector of numbers.
        precision: ``"auto"`` (bfloat16 autocast on CUDA, float32 on CPU), ``"float32"`` (exact),
            ``"bfloat16"`` (CUDA: autocast; CPU: oneDNN bf16 convolutions, about 2x faster with AMX or
            AVX512-BF16); ``"int8"`` is experimental and on no menu (:data:`EXPERIMENTAL_PRECISIONS`).
            Low precision is faster, not identical to float32: on CPU each run is checked against float32
            on sampled windows and the outputs record it, see :func:`glacierlab.accel.fast_copy`.
        fill_missing: Where missing values become 0 (see :data:`FILL_MODES`); the authors' path uses
            ``"before_scaling"``.
    """

    window: int = 384
    stride: int = 192
    tiling: str = "edge"
    pad_mode: str = "reflect"
    nodata: str = "any"
    smoothing: int = 0
    calibration: str = "auto"
    confidence: str = "entropy"
    tta: bool = False
    mc_samples: int = 0
    batch_size: int = 4
    location: str | tuple[float, ...] | None = None
    precision: str = "auto"
    fill_missing: str = "after_scaling"

    def __post_init__(self) -> None:
        for name in ("window", "stride", "smoothing", "mc_samples", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"option {name} must be an integer, got {value!r}")
        if not isinstance(self.tta, bool):
            raise ConfigError(f"option tta must be true or false, got {self.tta!r}")
        if self.window < 8:
            raise ConfigError(f"option window must be at least 8 px, got {self.window}")
        if not 1 <= self.stride <= self.window:
            raise ConfigError(
                f"option stride must be between 1 and the window ({self.window} px), got {self.stride}; "
                "a stride larger than the window would leave pixels uncovered."
            )
        for name, valid in (
            ("tiling", TILING_MODES),
            ("pad_mode", PAD_MODES),
            ("nodata", NODATA_POLICIES),
            ("confidence", CONVENTIONS),
            ("calibration", CALIBRATION_CHOICES),
            ("precision", PRECISIONS + EXPERIMENTAL_PRECISIONS),
            ("fill_missing", FILL_MODES),
        ):
            if getattr(self, name) not in valid:
                raise unknown_name(f"{name} option", getattr(self, name), valid)
        if self.batch_size < 1 or self.mc_samples < 0:
            raise ConfigError(
                f"need batch_size >= 1 and mc_samples >= 0, got {self.batch_size} and {self.mc_samples}"
            )
        if self.smoothing < 0 or (self.smoothing and self.smoothing % 2 == 0):
            raise ConfigError(f"option smoothing must be 0 (off) or an odd size >= 1, got {self.smoothing}")
        if self.location is not None and not isinstance(self.location, str):
            try:
                vec = tuple(float(x) for x in self.location)
            except (TypeError, ValueError) as err:
                raise ConfigError(
                    f"option location must be None, 'coordinates', a region code or numbers, "
                    f"got {self.location!r}"
                ) from err
            object.__setattr__(self, "location", vec)

    def replace(self, **overrides: Any) -> PredictOptions:
        """A copy with some fields changed (None values are ignored: "keep the stored one").

        Raises:
            UnknownNameError: A name is not an option (the valid ones and the closest are listed).
            ConfigError: A value is out of range.
        """
        check_option_names(overrides)
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "calibration" in overrides and overrides["calibration"] is None:
            changes["calibration"] = "none"  # calibration=None means raw confidence, as before
        if "location" in overrides and overrides["location"] is None:
            changes.pop("location", None)
        return dataclasses.replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        d = dataclasses.asdict(self)
        if isinstance(self.location, tuple):
            d["location"] = list(self.location)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictOptions:
        """Rebuild from :meth:`to_dict` output (unknown keys are an error, missing keys take defaults)."""
        check_option_names(data)
        return cls(**dict(data))

    def describe(self) -> str:
        """One line for logs, GeoTIFF tags and reports."""
        loc = "" if self.location is None else f", location={self.location!r}"
        cal = f", calibration={self.calibration}" if self.calibration != "auto" else ""
        extra = (", tta" if self.tta else "") + (f", mc={self.mc_samples}" if self.mc_samples else "")
        extra += f", {self.precision}" if self.precision not in ("auto", "float32") else ""
        smooth = f", median {self.smoothing}" if self.smoothing else ""
        return (
            f"{self.tiling} tiling, window {self.window}, stride {self.stride}, nodata={self.nodata}"
            f"{smooth}{extra}{cal}{loc}"
        )


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PredictOptions))

PAPER_OPTIONS = PredictOptions(
    window=384,
    stride=192,
    tiling="paper",
    pad_mode="constant",
    nodata="all",
    precision="float32",
    fill_missing="before_scaling",
)
"""The authors' ``deploy.py`` path: 384 windows at stride 192 on the centred zero-padded scene, missing
inputs set to 0 before min-max scaling (as their ``compile_features``), every pixel predicted
(``nodata="all"``), float32, entropy confidence."""


class _Record(Protocol):
    @property
    def training_window(self) -> int | None:
        """Training window side in pixels, or None."""


class StoredOptions(Protocol):
    """What :func:`options_for` reads of a checkpoint (:class:`~glacierlab.contract.record.CheckpointContract`)."""

    @property
    def options(self) -> PredictOptions | None:
        """The stored inference settings (None: written before options travelled with checkpoints)."""

    @property
    def record(self) -> _Record:
        """How the checkpoint was made (its training window)."""


def check_option_names(names: Mapping[str, Any] | Sequence[str]) -> None:
    """Raise :class:`~glacierlab.errors.UnknownNameError` for a name that is not a :class:`PredictOptions` field."""
    for name in names:
        if name not in OPTION_NAMES:
            close = difflib.get_close_matches(str(name), OPTION_NAMES, n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"{name!r} is not a prediction option; options: {', '.join(OPTION_NAMES)}.{hint}"
            )


def training_defaults(window: int | None) -> PredictOptions:
    """The options of a checkpoint that stores none.

    Its training window in pixels (stride window/2, every pixel predicted) for glacierlab-trained models
    (``TrainingRecord.training_window``), the library defaults for others (None).
    """
    if window:
        return PredictOptions(window=int(window), stride=max(1, int(window) // 2), nodata="all")
    return PredictOptions()


def options_for(checkpoint: StoredOptions | None) -> PredictOptions:
    """The options a checkpoint should be run with (its stored ``options``, else its training window).

    Args:
        checkpoint: A loaded :class:`~glacierlab.models.checkpoint.Checkpoint`, or None for the library
            defaults.
    """
    if checkpoint is None:
        return PredictOptions()
    if checkpoint.options is not None:
        return checkpoint.options
    return training_defaults(checkpoint.record.training_window)


def resolve_options(
    checkpoint: StoredOptions | None,
    options: PredictOptions | Mapping[str, Any] | None = None,
    **overrides: Any,
) -> PredictOptions:
    """The options of one run: ``options`` (or the checkpoint's own, :func:`options_for`) with ``overrides``.

    Args:
        checkpoint: The loaded checkpoint (its stored options are the defaults).
        options: A full :class:`PredictOptions` (or its dict) replacing the stored ones, or None.
        **overrides: Single fields to change; None means "keep" (except ``calibration=None``: raw).
    """
    if options is None:
        base = options_for(checkpoint)
    elif isinstance(options, PredictOptions):
        base = options
    elif isinstance(options, Mapping):
        base = options_for(checkpoint).replace(**dict(options))
    else:
        raise ConfigError(f"options must be a PredictOptions, a dict or None, got {type(options).__name__}")
    return base.replace(**overrides)
