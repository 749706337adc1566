"""Shared plumbing of the widgets: a status line, error display, observers, notebook display."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

from glacierlab.errors import GlacierLabError

log = logging.getLogger(__name__)


class WidgetBase:
    """Base of every glacierlab widget: owns ``status`` (an HTML line) and a top-level ``box``.

    Subclasses build their controls in ``__init__``, put them in ``self.box`` and keep their latest
    result in an attribute; :attr:`message` holds the status line as plain text. Button handlers go
    through :meth:`_guarded`, which shows errors in the status line instead of losing them in the
    kernel log (calling the methods directly raises).
    """

    def __init__(self) -> None:
        import ipywidgets as w

        self.status = w.HTML("")
        self.box: Any = w.VBox([])
        self._observers: list[Callable[[Any], None]] = []
        self.error: BaseException | None = None
        self.message = ""

    def observe_result(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(result)`` every time this widget produces a new result."""
        self._observers.append(callback)

    def _emit(self, result: Any) -> None:
        for cb in self._observers:
            cb(result)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message = text
        colour = "#b00020" if error else "#333"
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def _guarded(self, func: Callable[[], Any]) -> Callable[[Any], None]:
        """A control handler that runs ``func`` and shows any error as one line in the status line.

        A glacierlab error is shown as ``Type: message`` (it says what to fix); anything else as an
        unexpected error, with the traceback in the log. Either way the status never keeps a stale
        "running..." and :attr:`error` holds the exception.
        """

        def handler(_: Any = None) -> None:
            try:
                self.error = None
                func()
            except GlacierLabError as exc:
                self.error = exc
                self._say(f"{type(exc).__name__}: {exc}", error=True)
            except Exception as exc:  # noqa: BLE001 - a widget callback must not die silently
                self.error = exc
                log.exception("unexpected error in %s", type(self).__name__)
                self._say(
                    f"unexpected {type(exc).__name__}: {exc} (a bug: the traceback is in the log; please report it)",
                    error=True,
                )

        return handler

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)
