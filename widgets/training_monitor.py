"""Training monitor: a live per-epoch table and loss / IoU plot for ``glacierlab.training.train_scene``.

Pass :meth:`TrainingMonitor.update` as ``on_epoch``; every finished epoch adds a row to the table and
redraws the plot while training runs (widget updates reach the browser during the cell).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from glacierlab_widgets._base import WidgetBase

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

COLUMNS = ("epoch", "train_loss", "val_loss", "train_iou", "val_iou", "saved", "seconds")


class TrainingMonitor(WidgetBase):
    """A table of epochs and a loss / IoU plot that update as training proceeds.

    Args:
        epochs: Planned number of epochs (for the status line and the plot's x range).

    Attributes:
        history: The rows received so far (dicts as written to the training log).
    """

    def __init__(self, epochs: int) -> None:
        import ipywidgets as w

        super().__init__()
        self.epochs = int(epochs)
        self.history: list[dict[str, Any]] = []
        self.table = w.HTML("<i>waiting for the first epoch...</i>")
        self.plot = w.Image(format="png", layout=w.Layout(width="640px"))
        self.box.children = [self.status, self.plot, self.table]
        self._say(f"training {self.epochs} epochs...")

    def update(self, row: Mapping[str, Any]) -> None:
        """Add one epoch's row (the ``on_epoch`` hook of ``train_scene``) and redraw."""
        import matplotlib.pyplot as plt

        self.history.append(dict(row))
        self.table.value = self.frame().to_html(index=False, float_format=lambda v: f"{v:.3f}")
        fig = self.figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        self.plot.value = buf.getvalue()
        last = self.history[-1]
        best = max(h["val_iou"] for h in self.history)
        self._say(
            f"epoch {last['epoch']}/{self.epochs}: val IoU {last['val_iou']:.3f} (best {best:.3f}), "
            f"{last.get('seconds', float('nan')):.0f} s"
        )

    def frame(self) -> pd.DataFrame:
        """The history as a table (epoch, losses, IoUs, what was saved, seconds)."""
        import pandas as pd

        df = pd.DataFrame(self.history)
        return df[[c for c in COLUMNS if c in df.columns]]

    def figure(self) -> Figure:
        """Loss (left axis) and IoU (right axis) per epoch, for training and validation windows."""
        import matplotlib.pyplot as plt

        df = self.frame()
        fig, ax = plt.subplots(figsize=(7, 3.2), constrained_layout=True)
        ax.plot(df["epoch"], df["train_loss"], "o-", color="#1f77b4", label="train loss")
        ax.plot(df["epoch"], df["val_loss"], "s--", color="#1f77b4", label="validation loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (focal)")
        ax.set_xlim(0.5, max(self.epochs, len(df)) + 0.5)
        ax2 = ax.twinx()
        ax2.plot(df["epoch"], df["train_iou"], "o-", color="#d62728", label="train IoU")
        ax2.plot(df["epoch"], df["val_iou"], "s--", color="#d62728", label="validation IoU")
        ax2.set_ylabel("glacier IoU")
        ax2.set_ylim(0, 1)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [str(x.get_label()) for x in lines], fontsize=7, loc="upper center", ncol=4)
        return fig
