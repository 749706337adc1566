"""The regional analysis: frozen run parameters in, a frozen typed result out, each step a plain function.

Sits between ``data`` / ``inference`` / ``outlines`` (which it composes) and ``reports`` (which renders and
publishes its result): reports -> analysis -> inference | outlines | data. The face exports the entry point,
``run_analysis(RunParams(...))``; the steps are imported from their modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.analysis.params import RunParams
    from glacierlab.analysis.pipeline import run_analysis

_EXPORTS = {
    "RunParams": "params",
    "run_analysis": "pipeline",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
