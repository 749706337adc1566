"""Reports: the steps of the regional report, the papermill runner, figures and held-out evaluation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.reports.demo import run_demo
    from glacierlab.reports.evaluate import calibration_ece, heldout_counts, scores
    from glacierlab.reports.plot import region_overview, rgb_image, stretch
    from glacierlab.reports.plot_reliability import reliability_diagram
    from glacierlab.reports.regional import glacier_table, map_stack, outline_history, prediction_figure, score
    from glacierlab.reports.runner import default_template, notebook_to_html, run_report, run_reports, write_index

_EXPORTS = {
    "run_report": "runner",
    "run_reports": "runner",
    "write_index": "runner",
    "notebook_to_html": "runner",
    "default_template": "runner",
    "run_demo": "demo",
    "map_stack": "regional",
    "score": "regional",
    "glacier_table": "regional",
    "prediction_figure": "regional",
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
