"""The batch task runner: one task per region or scene, in-process or on Dask distributed, and its status table.

One task per region or scene. Each task writes its own outputs atomically and records them in a
done-marker (``_done.json``, written last, with the size and sha256 of every output), so a rerun skips
tasks whose outputs are complete (checked, not assumed) and redoes the others. A task that raises is
recorded with its traceback while the rest goes on; the result is a status table.

Pass a :class:`dask.distributed.Client` to spread the tasks over its workers (a laptop ``LocalCluster``,
``dask-jobqueue`` on HPC, ``dask-cuda``'s ``LocalCUDACluster`` for multi-GPU); without one the tasks
run one after the other in this process. Models are loaded once per worker process
(:func:`load_once`), not once per task. See ``docs/scaling.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

log = logging.getLogger(__name__)

Status = Literal["ok", "failed", "skipped"]
Outcome = tuple[Literal["ok", "skipped"], dict[str, str]]
"""What a task function returns: ``("ok" | "skipped", {output name: path})``; failures raise."""

@dataclass
class TaskResult:
    """The record of one task.

    Attributes:
        task: The task key (region or scene name).
        status: ``"ok"``, ``"failed"`` or ``"skipped"`` (outputs were already complete).
        seconds: Wall-clock time of the task in seconds (0 when it never ran).
        error: One-line error summary (empty unless failed).
        traceback: Full traceback text (empty unless failed).
        worker: ``host:pid`` of the process that ran the task.
        outputs: Output name -> path.
    """

    task: str
    status: Status
    seconds: float = 0.0
    error: str = ""
    traceback: str = ""
    worker: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


def _error_summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def guarded(func: Callable[..., Outcome], task: str, kwargs: Mapping[str, Any]) -> TaskResult:
    """Run ``func(task, **kwargs)``, timing it and turning any exception into a failed record."""
    t0 = time.perf_counter()
    worker = f"{os.uname().nodename}:{os.getpid()}"
    try:
        status, outputs = func(task, **kwargs)
    except Exception as exc:  # one task's failure must not stop the batch
        log.warning("task %s failed: %s", task, _error_summary(exc))
        return TaskResult(
            task, "failed", time.perf_counter() - t0, _error_summary(exc), traceback.format_exc(), worker
        )
    log.info("task %s %s in %.1f s", task, status, time.perf_counter() - t0)
    return TaskResult(task, status, time.perf_counter() - t0, "", "", worker, dict(outputs))


def run_tasks(
    func: Callable[..., Outcome],
    tasks: Mapping[str, Mapping[str, Any]],
    *,
    client: Client | None = None,
    progress: bool = True,
    desc: str = "tasks",
) -> list[TaskResult]:
    """Run ``func(task, **kwargs)`` for every task, on ``client``'s workers or in this process.

    Args:
        func: A module-level function (picklable by reference) returning an :data:`Outcome`.
        tasks: Task key -> keyword arguments. Keys name the outputs, so they must be unique.
        client: A Dask distributed client; None runs the tasks sequentially in-process.
        progress: Show a tqdm bar over finished tasks (and print the Dask dashboard link).
        desc: Label of the progress bar and prefix of the Dask keys.

    Returns:
        One :class:`TaskResult` per task, in the order of ``tasks``. Lost tasks (a worker died more
        often than Dask's ``allowed-failures``, or the client was restarted) are recorded as failed.
    """
    from tqdm.auto import tqdm

    results: dict[str, TaskResult] = {}
    bar = tqdm(total=len(tasks), desc=desc, unit="task", disable=not progress)
    try:
        if client is None:
            for key, kwargs in tasks.items():
                results[key] = guarded(func, key, kwargs)
                bar.update()
        else:
            from distributed import as_completed

            services = client.scheduler_info().get("services", {})
            if progress and "dashboard" in services:
                print(f"Dask dashboard: {client.dashboard_link}")
            run_id = uuid.uuid4().hex[:8]
            futures = {
                client.submit(guarded, func, key, kwargs, key=f"{desc}-{key}-{run_id}", pure=False): key
                for key, kwargs in tasks.items()
            }
            for fut in as_completed(futures):
                key = futures[fut]
                try:
                    results[key] = fut.result()
                except Exception as exc:  # KilledWorker, CancelledError: the task itself never reported
                    results[key] = TaskResult(key, "failed", 0.0, _error_summary(exc), traceback.format_exc())
                bar.update()
                bar.set_postfix(failed=sum(r.status == "failed" for r in results.values()))
    finally:
        bar.close()
    return [results[k] for k in tasks]


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 0) -> Iterator[Client | None]:
    """A Dask client for a batch: connect to ``scheduler``, start ``workers`` local processes, or neither.

    Args:
        scheduler: Address of a running scheduler (``tcp://host:8786``); wins over ``workers``.
        workers: Start a ``LocalCluster`` of this many single-threaded worker processes (0: no Dask).

    Yields:
        The client (closed, with its local cluster, on exit), or None to run in-process.
    """
    if not scheduler and workers <= 0:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(n_workers=workers, processes=True, threads_per_worker=1) as cluster,
        Client(cluster) as client,
    ):
        yield client


def status_table(results: Iterable[TaskResult], key_name: str = "task") -> pd.DataFrame:
    """The status table of a batch: one row per task; outputs become one column each.

    Args:
        results: Task records from :func:`run_tasks`.
        key_name: Name of the key column (e.g. ``"region"``).

    Returns:
        DataFrame with columns ``key_name, status, seconds, error, traceback, worker`` and one column
        per output name (paths as strings, empty when absent).
    """
    import pandas as pd

    rows = []
    for r in results:
        row = asdict(r)
        outputs = row.pop("outputs")
        row[key_name] = row.pop("task")
        rows.append({**row, **outputs})
    cols = [key_name, "status", "seconds", "error", "traceback", "worker"]
    table = pd.DataFrame(rows, columns=cols + sorted({c for row in rows for c in row} - set(cols)))
    out_cols = table.columns[len(cols) :]
    table[out_cols] = table[out_cols].fillna("")
    return table
