"""Reports: the steps of the regional report, the papermill runner, figures and held-out evaluation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.reports.context import Report
    from glacierlab.reports.demo import run_demo
    from glacierlab.reports.evaluate import calibration_ece, heldout_counts, scores
    from glacierlab.reports.heldout_area import HeldoutAreaCheck, heldout_area_check
    from glacierlab.reports.index import write_index
    from glacierlab.reports.plot import prediction_figure, region_overview, rgb_image, stretch
    from glacierlab.reports.plot_reliability import reliability_diagram
    from glacierlab.reports.regional import judge_glaciers, map_stack, outline_history, score
    from glacierlab.reports.runner import default_template, notebook_to_html, run_report, run_reports
    from glacierlab.reports.series import outline_series, series_areas, series_changes
    from glacierlab.reports.timeline import model_change, other_dates, reference_date_groups

_EXPORTS = {
    "run_report": "runner",
    "run_reports": "runner",
    "write_index": "index",
    "Report": "context",
    "heldout_area_check": "heldout_area",
    "HeldoutAreaCheck": "heldout_area",
    "outline_series": "series",
    "series_areas": "series",
    "series_changes": "series",
    "model_change": "timeline",
    "other_dates": "timeline",
    "reference_date_groups": "timeline",
    "notebook_to_html": "runner",
    "default_template": "runner",
    "run_demo": "demo",
    "map_stack": "regional",
    "score": "regional",
    "judge_glaciers": "regional",
    "prediction_figure": "plot",
    "outline_history": "regional",
    "scores": "evaluate",
    "heldout_counts": "evaluate",
    "calibration_ece": "evaluate",
    "rgb_image": "plot",
    "region_overview": "plot",
    "stretch": "plot",
    "reliability_diagram": "plot_reliability",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
