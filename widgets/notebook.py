"""Notebook set-up: glacierlab errors as one readable line, and the workspace every output goes to.

``setup_notebook()`` (the first call of every workshop notebook) registers an IPython custom exception
handler for :class:`~glacierlab.errors.GlacierLabError`: instead of a 30-60 line traceback through the
library, the cell shows ``InputError: <what was wrong, what was expected, how to fix it>``; the full
traceback stays one ``%tb`` away. The cell still fails (papermill and Run All stop there), and errors
that are not glacierlab's keep their usual traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glacierlab.errors import GlacierLabError

HINT = "(full traceback: run %tb)"


def _one_line(shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
    """IPython custom exception handler: show ``Type: message``; keep the full traceback for ``%tb``."""
    import sys

    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # what %tb shows
    line = f"{etype.__name__}: {value}"
    stb = [f"\x1b[0;31m{line}\x1b[0m  {HINT}"]
    shell._showtraceback(etype, value, stb)
    return stb


def register_error_display(shell: Any = None) -> bool:
    """Show :class:`GlacierLabError` in ``shell`` (default: the running IPython) as one readable line.

    Returns:
        True when registered, False outside IPython (plain Python keeps normal tracebacks).
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((GlacierLabError,), _one_line)
    return True


def setup_notebook() -> Path:
    """Register the one-line error display and return the workspace outputs go to.

    Returns:
        :func:`glacierlab.settings.workspace` (``$GLACIERLAB_WORKSPACE`` or the project root): the same
        folder in JupyterLab, Voila and papermill, whatever the kernel's working folder.
    """
    from glacierlab.settings import workspace

    register_error_display()
    return workspace()
