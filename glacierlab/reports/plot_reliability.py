"""Reliability diagrams (docs/GLAVITU_SPEC.md §6): accuracy per confidence bin, gap to the diagonal, pixel counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from glacierlab.contract.calibration import ReliabilityTable

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def reliability_diagram(table: ReliabilityTable, n_bins: int = 10, title: str = "") -> Figure:
    """Draw a reliability diagram from a (100-bin) table, re-binned to ``n_bins`` for display.

    Top panel: accuracy per bin as bars, the gap between accuracy and mean confidence as red hatched
    bars, and the diagonal of perfect calibration. Bottom panel: pixel count per bin (log scale).
    The title gives the ECE over the ``n_bins`` bins drawn (the paper's ECE₁₀₀ is ``table.ece()`` on the
    100-bin table; fewer bins give a smaller or equal ECE).

    Args:
        table: Accumulated :class:`~glacierlab.contract.calibration.ReliabilityTable` (not empty).
        n_bins: Bins shown (must divide ``table.n_bins``; the paper plots 10).
        title: Optional prefix of the title (e.g. the model name).

    Returns:
        A matplotlib Figure (not shown; save it with ``fig.savefig``).
    """
    from matplotlib.figure import Figure

    coarse = table.rebin(n_bins)
    ece = coarse.ece()
    edges = coarse.edges
    width = np.diff(edges)
    acc = np.nan_to_num(coarse.accuracy)
    conf = coarse.mean_confidence
    centre = np.where(np.isnan(conf), edges[:-1] + width / 2, conf)
    fig = Figure(figsize=(5, 6))
    ax, axc = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(edges[:-1], acc, width=width, align="edge", color="tab:blue", edgecolor="k", label="accuracy")
    has = coarse.count > 0
    ax.bar(
        edges[:-1][has],
        (centre - acc)[has],
        bottom=acc[has],
        width=width[has],
        align="edge",
        color="tab:red",
        alpha=0.3,
        hatch="//",
        edgecolor="tab:red",
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title(f"{title + ' — ' if title else ''}ECE over {n_bins} bins = {ece:.4f}")
    axc.bar(edges[:-1], coarse.count, width=width, align="edge", color="grey", edgecolor="k")
    if coarse.count.max() > 0:
        axc.set_yscale("log")
    axc.set_xlabel("confidence")
    axc.set_ylabel("pixels")
    fig.tight_layout()
    return fig
