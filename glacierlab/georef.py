"""Small georeferencing helpers shared by raster and vector code."""

from __future__ import annotations

import warnings
from typing import Any


def rio_transform(obj: Any) -> Any:
    """``obj.rio.transform()`` (an ``affine.Affine``) without affine 3's PendingDeprecationWarning.

    rioxarray 0.19 multiplies transforms with ``*``, which affine 3 deprecates in favour of ``@``; the
    warning is not ours to fix, and tests run with warnings as errors.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
        return obj.rio.transform()
