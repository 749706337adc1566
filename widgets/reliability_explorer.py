"""Reliability explorer: reliability diagrams before/after recalibration, a bins slider, ECE.

Wraps :class:`glacierlab.contract.calibration.ReliabilityTable`,
:func:`glacierlab.contract.calibration.fit_calibrator` and
:func:`glacierlab.reports.plot_reliability.reliability_diagram`. The calibrator is fitted on the
``fit_*`` pixels (a held-out part of the scene) and judged on the evaluation pixels; without ``fit_*`` it is
fitted and judged on the same pixels, which the status line says (in-sample, optimistic).
"""

from __future__ import annotations

import io
from typing import Any

from glacierlab.contract.calibration import METHODS, N_BINS, ReliabilityTable, fit_calibrator
from glacierlab.contract.confidence import CONVENTION_TEXT, check_convention, confidence_correctness
from glacierlab.errors import InputError
from glacierlab_widgets._base import WidgetBase

#: Bin counts offered by the slider (divisors of the 100-bin table).
BIN_CHOICES = tuple(b for b in range(2, N_BINS + 1) if N_BINS % b == 0)
#: How to read a reliability diagram, for a student.
HOW_TO_READ = (
    "<b>How to read these diagrams.</b> The pixels are sorted by how confident the model is (x axis) into "
    "bins. Each blue bar is the share of a bin's pixels the map got right; the dashed diagonal is where "
    "it would be if the confidence could be read as a chance of being right. A bar below the diagonal "
    "means the model is over-confident there, above it under-confident; the red hatched part is the gap. "
    "The grey bars below count the pixels per bin (log scale): gaps in nearly empty bins matter little. "
    "ECE, the expected calibration error, is that gap averaged over all pixels (0 = perfect). The left "
    "diagram is the raw confidence, the right one after the calibration method chosen, fitted on the "
    "northern half and judged on the southern half of the scene. More bins show more detail and give a "
    "larger ECE; the paper reports it over 100 bins."
)


class ReliabilityExplorer(WidgetBase):
    """Reliability diagrams of a predicted scene against its reference, before and after calibration.

    Args:
        probability: Glacier probability in [0, 1] (NaN = no data), e.g. ``result["probability"]``.
        reference: Reference labels on the same grid (0 ice-free, 1 glacier, 255 no data).
        fit_probability: Probability of the pixels the calibrator is fitted on (None: the same pixels).
        fit_reference: Reference of ``fit_probability``.
        convention: Confidence convention of the raw confidence (``"entropy"`` paper, ``"maxprob"``).
        method: Initial calibration method (``"none"`` or one of ``glacierlab.contract.calibration.METHODS``).
        n_bins: Initial number of bins drawn (a divisor of 100).

    Attributes:
        result: Dict with ``n_bins``, ``method``, ``ece_before``, ``ece_after`` (ECE over 100 bins, the
            paper's ECE₁₀₀), ``ece_bins_before``, ``ece_bins_after`` (over the ``n_bins`` bins drawn),
            ``table_before``, ``table_after``, ``calibrator`` and ``in_sample``.
        figures: The latest (before, after) matplotlib figures, shown as PNG in ``images``.
    """

    def __init__(
        self,
        probability: Any,
        reference: Any,
        *,
        fit_probability: Any = None,
        fit_reference: Any = None,
        convention: str = "entropy",
        method: str = "kernel_ridge",
        n_bins: int = 10,
    ) -> None:
        import ipywidgets as w

        super().__init__()
        check_convention(convention)
        self.convention = convention
        self._conf, self._correct, self._valid = confidence_correctness(probability, reference, convention)
        self.in_sample = fit_probability is None
        if self.in_sample:
            fit = (self._conf, self._correct, self._valid)
        elif fit_reference is None:
            raise InputError("pass fit_reference together with fit_probability.")
        else:
            fit = confidence_correctness(fit_probability, fit_reference, convention)
        self._fit_table = ReliabilityTable(N_BINS)
        self._fit_table.update(*fit)
        self.table_before = ReliabilityTable(N_BINS)
        self.table_before.update(self._conf, self._correct, self._valid)
        if self.table_before.total == 0 or self._fit_table.total == 0:
            raise InputError(
                "no pixel has both a prediction and a 0/1 reference; check the grids and nodata."
            )
        if n_bins not in BIN_CHOICES:
            raise InputError(f"n_bins must divide {N_BINS}: one of {list(BIN_CHOICES)}, got {n_bins}")
        self.bins = w.SelectionSlider(description="Bins", options=list(BIN_CHOICES), value=n_bins)
        self.method = w.Dropdown(description="Calibration", options=["none", *METHODS], value=method)
        self.convention_label = w.HTML(f"confidence: <b>{CONVENTION_TEXT[convention]}</b>")
        self.help = w.HTML(f"<div style='max-width:820px'>{HOW_TO_READ}</div>")
        self.images = (w.Image(format="png"), w.Image(format="png"))
        self.result: dict[str, Any] = {}
        self.figures: tuple[Any, ...] = ()
        self._calibrators: dict[str, Any] = {}
        self.bins.observe(self._guarded(self.update), names="value")
        self.method.observe(self._guarded(self.update), names="value")
        self.box.children = [
            w.HBox([self.bins, self.method]),
            self.convention_label,
            self.status,
            w.HBox(list(self.images)),
            self.help,
        ]
        self.update()

    def _calibrated_table(self, method: str) -> tuple[ReliabilityTable, Any]:
        if method == "none":
            return self.table_before, None
        if method not in self._calibrators:
            cal = fit_calibrator(self._fit_table, method=method, convention=self.convention)
            table = ReliabilityTable(N_BINS)
            table.update(cal(self._conf), self._correct, self._valid)
            self._calibrators[method] = (table, cal)
        return self._calibrators[method]

    def update(self) -> dict[str, Any]:
        """Recompute for the current bins and method, redraw, and return :attr:`result`."""
        from glacierlab.reports.plot_reliability import reliability_diagram

        method, n_bins = self.method.value, int(self.bins.value)
        after, cal = self._calibrated_table(method)
        self.result = {
            "n_bins": n_bins,
            "method": method,
            "ece_before": self.table_before.ece(),
            "ece_after": after.ece(),
            "ece_bins_before": self.table_before.rebin(n_bins).ece(),
            "ece_bins_after": after.rebin(n_bins).ece(),
            "table_before": self.table_before,
            "table_after": after,
            "calibrator": cal,
            "in_sample": self.in_sample,
        }
        self.figures = (
            reliability_diagram(self.table_before, n_bins, title="raw"),
            reliability_diagram(after, n_bins, title=f"after {method}"),
        )
        for image, fig in zip(self.images, self.figures, strict=True):
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=80)
            image.value = buf.getvalue()
        note = (
            " (fitted and judged on the same pixels: optimistic)"
            if self.in_sample and method != "none"
            else ""
        )
        r = self.result
        self._say(
            f"ECE over {n_bins} bins: raw {r['ece_bins_before']:.4f} -> {method} {r['ece_bins_after']:.4f} "
            f"(over 100 bins, as in the paper: {r['ece_before']:.4f} -> {r['ece_after']:.4f}); "
            f"{self.table_before.total} pixels{note}"
        )
        self._emit(self.result)
        return self.result
