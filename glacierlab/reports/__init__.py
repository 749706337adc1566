"""Reports: render the parts of an analysis result (:mod:`glacierlab.analysis`) and publish them.

Renderers (``sections*``) turn a frozen :class:`~glacierlab.analysis.result.AnalysisResult` into display
items; the papermill runner makes offline HTML of the report notebook; index, export bundle, provenance,
plots, tables and the offline web map publish it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.reports.demo import run_demo
    from glacierlab.reports.index import write_index
    from glacierlab.reports.plot import prediction_figure, region_overview, rgb_image, stretch
    from glacierlab.reports.plot_reliability import reliability_diagram
    from glacierlab.reports.runner import default_template, notebook_to_html, run_report, run_reports

_EXPORTS = {
    "run_report": "runner",
    "run_reports": "runner",
    "write_index": "index",
    "notebook_to_html": "runner",
    "default_template": "runner",
    "run_demo": "demo",
    "prediction_figure": "plot",
    "rgb_image": "plot",
    "region_overview": "plot",
    "stretch": "plot",
    "reliability_diagram": "plot_reliability",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
