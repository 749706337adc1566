"""The one list of third-party warnings glacierlab silences, and the helpers that silence them.

Each entry names the library and why the warning is noise (nothing is lost). Tests run with warnings as
errors; anything not listed here surfaces.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: (message regex, category, why). Silenced only around the calls that trigger them.
THIRD_PARTY_NOISE: tuple[tuple[str, type[Warning], str], ...] = (
    (
        r"Use `@` matmul instead of `\*` mul operator",
        PendingDeprecationWarning,
        "rioxarray 0.19 multiplies affine transforms with `*`; affine 3 asks for `@`",
    ),
    (
        r"angle from rectified to skew grid parameter lost",
        UserWarning,
        "pyproj's CF export of oblique Mercator CRSs (EPSG:2056); the CRS travels as WKT",
    ),
    (
        r"The 'shapely\.ops\.transform\(\)' function is deprecated",
        DeprecationWarning,
        "odc-geo 0.5.3 calls shapely.ops.transform, deprecated in shapely 2.2",
    ),
    (
        r"Passing unrecognized arguments to super",
        DeprecationWarning,
        "localtileserver 1.0.0 passes cors_all= to ipyleaflet's TileLayer (traitlets)",
    ),
    (
        r"Cannot determine m..zoom",
        UserWarning,
        "rio-tiler cannot guess zoom levels of small rasters without overviews",
    ),
    (
        r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation",
        UserWarning,
        "torch 2.13 deprecates quantized tensors (future: torchao); the pinned torch still has them and "
        "glacierlab.accel.quantize (int8 CPU path) uses them; revisit when torch is upgraded",
    ),
    (
        r"Could not parse bucket/account from href",
        UserWarning,
        "pystac 1.15 migrating real Earth Search items' storage extension v1 -> v2 (https hrefs have no "
        "bucket to parse); glacierlab reads no storage:* field",
    ),
    (
        r"Support for class-based `config` is deprecated",
        DeprecationWarning,
        "planetary-computer 1.0.0 declares its settings with pydantic v1-style class Config",
    ),
)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Context manager: the warnings of :data:`THIRD_PARTY_NOISE` are ignored inside it."""
    with warnings.catch_warnings():
        for msg, cat, _why in THIRD_PARTY_NOISE:
            warnings.filterwarnings("ignore", message=msg, category=cat)
        yield


def quiet_third_party(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run ``func`` inside :func:`quiet`."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with quiet():
            return func(*args, **kwargs)

    return wrapper
