"""The regional analysis: frozen run parameters in, a frozen typed result out, each step a plain function.

Sits between ``data`` / ``inference`` / ``outlines`` (which it composes) and ``reports`` (which renders and
publishes its result): reports -> analysis -> inference | outlines | data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.analysis.evaluate import calibration_ece
    from glacierlab.analysis.heldout_area import HeldoutAreaCheck, heldout_area_check
    from glacierlab.analysis.params import RunParams
    from glacierlab.analysis.pipeline import run_analysis
    from glacierlab.analysis.regional import judge_glaciers, map_stack, outline_history, score_against_reference
    from glacierlab.analysis.result import AnalysisResult, Failure
    from glacierlab.analysis.series import outline_series, series_areas, series_changes
    from glacierlab.analysis.timeline import model_change, other_dates, reference_date_groups

_EXPORTS = {
    "RunParams": "params",
    "run_analysis": "pipeline",
    "AnalysisResult": "result",
    "Failure": "result",
    "heldout_area_check": "heldout_area",
    "HeldoutAreaCheck": "heldout_area",
    "outline_series": "series",
    "series_areas": "series",
    "series_changes": "series",
    "model_change": "timeline",
    "other_dates": "timeline",
    "reference_date_groups": "timeline",
    "map_stack": "regional",
    "score_against_reference": "regional",
    "judge_glaciers": "regional",
    "outline_history": "regional",
    "calibration_ece": "evaluate",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
