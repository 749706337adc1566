"""What renderers return: Markdown text and PNG figures that notebooks display."""

from __future__ import annotations

from typing import Any


class Md(str):
    """Markdown text that notebooks display as Markdown."""

    def _repr_markdown_(self) -> str:
        return str(self)


class Png:
    """A rendered figure that notebooks display as a PNG (whatever the matplotlib backend)."""

    def __init__(self, fig: Any, dpi: int = 100) -> None:
        import io

        from matplotlib.text import Text

        for text in fig.findobj(Text):  # titles and labels hold data (a region name with '$'): never mathtext
            text.set_parse_math(False)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        self.data = buf.getvalue()
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)  # a pyplot figure would otherwise be shown a second time at the end of the cell
        except ImportError:  # pragma: no cover - matplotlib is a dependency
            pass

    def _repr_png_(self) -> bytes:
        return self.data
