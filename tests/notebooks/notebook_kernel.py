"""One Jupyter kernel that runs parameterised notebooks one after another (a test helper).

Starting a kernel and importing glacierlab, torch and leafmap costs about 7 s of CPU per notebook run; the
notebook tests run about 40, so they share kernels. Each run starts from an empty namespace
(``%reset -f``), gets its parameters injected the way papermill does (``parameterize_notebook``), and is
kept (executed notebook written beside the copied ``notebooks/``). A run's error is raised for that run
only, naming the notebook and its parameters; a dead kernel is replaced for the next run. Runs are memoised
on the notebook and its effective parameters (defaults filled in), so two tests of one run share it.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path
from typing import Any


class NotebookKernel:
    """Runs ``notebooks/<name>.ipynb`` copies in ``work/notebooks`` in one kernel with ``env`` added."""

    def __init__(self, notebooks: Path, work: Path, env: dict[str, str], timeout: int = 900) -> None:
        self.work = work
        self.cwd = work / "notebooks"
        if not self.cwd.exists():
            shutil.copytree(notebooks, self.cwd)
        self.env = env
        self.timeout = timeout
        self._client: Any = None
        self._runs: dict[str, dict | str] = {}

    def defaults(self, name: str) -> dict[str, Any]:
        """The literal values of the notebook's ``parameters`` cell."""
        nb = json.loads((self.cwd / f"{name}.ipynb").read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        body = ast.parse("".join(first["source"])).body
        return {n.targets[0].id: ast.literal_eval(n.value) for n in body if isinstance(n, ast.Assign)}  # type: ignore[attr-defined]

    def run(self, name: str, params: dict[str, Any], tag: str = "") -> dict:
        """The executed notebook (as JSON) of ``name`` with ``params``; raises ``AssertionError`` on its error."""
        key = json.dumps([name, {**self.defaults(name), **params}], sort_keys=True, default=str)
        if key not in self._runs:
            self._runs[key] = self._execute(name, params, tag)
        result = self._runs[key]
        if isinstance(result, str):
            raise AssertionError(f"{name} with {params}: {result}")
        return result

    def _start(self) -> Any:
        import nbformat
        from nbclient import NotebookClient

        client = NotebookClient(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%reset -f")]),
            kernel_name="python3",
            timeout=self.timeout,
            resources={"metadata": {"path": str(self.cwd)}},
        )
        client.km = client.create_kernel_manager()
        client.start_new_kernel(env={**os.environ, **self.env})
        client.start_new_kernel_client()
        return client

    def _execute(self, name: str, params: dict[str, Any], tag: str) -> dict | str:
        import nbformat
        from nbclient.exceptions import CellExecutionError, DeadKernelError
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        if self._client is None:
            self._client = self._start()
        client = self._client
        client.nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%reset -f")])
        client.execute_cell(client.nb.cells[0], 0, store_history=False)  # no names left from the last run
        nb = parameterize_notebook(load_notebook_node(str(self.cwd / f"{name}.ipynb")), params,
                                   kernel_name="python3", language="python")
        client.reset_execution_trackers()
        client.nb = nb
        error = ""
        try:
            for i, cell in enumerate(nb.cells):
                client.execute_cell(cell, i)
        except DeadKernelError as e:
            self.close()
            error = f"kernel died: {e}"
        except CellExecutionError as e:
            error = str(e)
        nbformat.write(nb, self.work / f"{name}{tag}.out.ipynb")
        return error or json.loads(nbformat.writes(nb))

    def close(self) -> None:
        """Shut the kernel down (a later run starts a new one)."""
        if self._client is not None:
            client, self._client = self._client, None
            client._cleanup_kernel()  # nbclient's own shutdown (its kernel manager is async)
