"""Reports: render the parts of an analysis result (:mod:`glacierlab.analysis`) and publish them.

Renderers (``sections*``) turn a frozen :class:`~glacierlab.analysis.result.AnalysisResult` into display
items; the papermill runner makes offline HTML of the report notebook; index, export bundle, provenance,
plots, tables and the offline web map publish it.

It exports no names: import each from its module (e.g. ``from glacierlab.reports import sections``,
``from glacierlab.reports.runner import run_reports``), so a name has one spelling.
"""
