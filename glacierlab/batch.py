"""Batch work over many regions or scenes, in-process or on Dask distributed.

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
import hashlib
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from glacierlab.atomic import atomic_path
from glacierlab.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

log = logging.getLogger(__name__)

MARKER = "_done.json"
"""Name of the done-marker file written last into each task's output folder."""

Status = Literal["ok", "failed", "skipped"]
Outcome = tuple[Literal["ok", "skipped"], dict[str, str]]
"""What a task function returns: ``("ok" | "skipped", {output name: path})``; failures raise."""

T = TypeVar("T")


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


# --- done markers -----------------------------------------------------------------------------------


def sha256sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _json_default(obj: Any) -> str:
    return str(obj) if isinstance(obj, os.PathLike) else f"<{type(obj).__name__}>"


def write_done_marker(
    folder: str | os.PathLike[str],
    files: Sequence[str | os.PathLike[str]],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Record ``files`` (inside ``folder``) with their sizes and sha256 in ``folder/_done.json``.

    Write it last: its presence says the task finished. The marker replaces an older one.

    Args:
        folder: The task's output folder.
        files: Output files; each must exist inside ``folder``.
        extra: JSON-serialisable metadata to keep with the record (parameters, shapes...).

    Returns:
        Path of the marker.
    """
    folder = Path(folder)
    record: dict[str, Any] = {"files": {}, "extra": dict(extra or {}), "written": time.time()}
    for f in map(Path, files):
        if not f.is_file():
            raise ConfigError(
                f"cannot mark {f} as done: it is not a file. Write every output before the marker."
            )
        record["files"][f.resolve().relative_to(folder.resolve()).as_posix()] = {
            "bytes": f.stat().st_size,
            "sha256": sha256sum(f),
        }
    with atomic_path(folder / MARKER, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=_json_default))
    return folder / MARKER


def incomplete_reason(folder: str | os.PathLike[str]) -> str | None:
    """Why the outputs in ``folder`` are not complete, or None when they are.

    Complete means: ``_done.json`` exists and parses, and every file it lists exists with the recorded
    size and sha256 (a truncated or rewritten file is detected).
    """
    marker = Path(folder) / MARKER
    if not marker.is_file():
        return f"no {MARKER} in {folder}"
    try:
        files = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"{marker} is unreadable ({exc})"
    if not files:
        return f"{marker} lists no files"
    for name, rec in files.items():
        path = Path(folder) / name
        if not path.is_file():
            return f"{path} is missing"
        if path.stat().st_size != rec["bytes"]:
            return f"{path} has {path.stat().st_size} bytes, expected {rec['bytes']}"
        if sha256sum(path) != rec["sha256"]:
            return f"{path} changed since it was written (sha256 differs)"
    return None


def marked_outputs(folder: str | os.PathLike[str]) -> dict[str, str]:
    """Output name (file stem, or file name where stems repeat) -> path, for files in ``folder``'s marker."""
    files = json.loads((Path(folder) / MARKER).read_text())["files"]
    stems = Counter(Path(name).stem for name in files)
    return {(Path(n).stem if stems[Path(n).stem] == 1 else n): str(Path(folder) / n) for n in files}


def clear_marker(folder: str | os.PathLike[str]) -> None:
    """Remove ``folder``'s done-marker before its outputs are rewritten."""
    (Path(folder) / MARKER).unlink(missing_ok=True)


# --- one model load per worker process ----------------------------------------------------------------

_CACHE: dict[Hashable, Any] = {}
_LOADS: Counter[str] = Counter()
_LOCK = threading.Lock()


def load_once(key: Hashable, loader: Callable[[], T], label: str = "") -> T:
    """Return ``loader()``, calling it once per process for each ``key`` (thread-safe).

    On Dask workers module globals live as long as the worker process, so a model is loaded once per
    worker and reused by every task that worker runs.

    Args:
        key: Cache key (e.g. checkpoint path, modification time and device).
        loader: Builds the value on first use.
        label: Name counted in :func:`cache_info` (default ``str(key)``).
    """
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = loader()
            _LOADS[label or str(key)] += 1
        return _CACHE[key]


def cache_info() -> dict[str, Any]:
    """This process's cache: ``{"pid": int, "loads": {label: count}}`` (run it with ``client.run``)."""
    return {"pid": os.getpid(), "loads": dict(_LOADS)}


def load_checkpoint_once(path: str | os.PathLike[str], device: str = "auto") -> Any:
    """The checkpoint at ``path`` loaded onto ``device``, once per process (see :func:`load_once`).

    ``device="auto"`` resolves on the worker: its CUDA device when it has one (under dask-cuda each
    worker sees exactly one GPU), else the CPU.
    """
    from glacierlab.models.checkpoint import load_checkpoint
    from glacierlab.predict import resolve_device

    p = Path(path).resolve()
    st = p.stat()
    device = resolve_device(device)

    def _load() -> Any:
        return load_checkpoint(p, map_location=device)

    return load_once((str(p), st.st_mtime_ns, st.st_size, device), _load, label=f"{p.name}@{device}")


# --- batch scene prediction ----------------------------------------------------------------------------


def predict_scene_task(
    task: str,
    *,
    scene: Mapping[str, Any],
    checkpoint: str,
    out_dir: str,
    overwrite: bool = False,
    device: str = "auto",
    predict: Mapping[str, Any] | None = None,
) -> Outcome:
    """One scene: stack its inputs, predict with the worker's cached model, write COGs + done-marker.

    Args:
        task: Scene name; outputs go to ``out_dir/<task>/``.
        scene: ``{"inputs": {group: GeoTIFF path or list of paths}}`` (user rasters), or keyword
            arguments of :func:`glacierlab.stack.stack_region` (``region_id``, ``bbox``...).
        checkpoint: Path of a glacierlab checkpoint (loaded once per worker process).
        out_dir: Batch output folder.
        overwrite: Redo the scene even when its outputs are complete.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:n]"``, resolved on the worker.
        predict: Extra keyword arguments of :func:`glacierlab.predict.predict_scene` (window, stride...).

    Returns:
        ``("skipped", outputs)`` when the outputs were complete, else ``("ok", outputs)``.
    """
    from glacierlab.predict import predict_scene

    folder = Path(out_dir) / task
    reason = incomplete_reason(folder)
    if reason is None and not overwrite:
        log.info("scene %s: outputs complete, skipped", task)
        return "skipped", marked_outputs(folder)
    log.info("scene %s: running (%s)", task, "overwrite requested" if reason is None else reason)
    clear_marker(folder)
    if "inputs" in scene:
        inputs = scene["inputs"]
    else:
        from glacierlab.stack import stack_region

        inputs = stack_region(**scene)  # predict_scene reads each group's bands by name
    ckpt = load_checkpoint_once(checkpoint, device)
    kwargs = {"progress": False, **dict(predict or {})}
    result = predict_scene(ckpt, inputs, device=device, out_dir=folder, overwrite=True, **kwargs)
    files = sorted(folder.glob("*.tif"))
    if not files:
        raise ConfigError(
            f"predict_scene wrote no GeoTIFF into {folder}; expected probability/mask/confidence COGs."
        )
    write_done_marker(
        folder,
        files,
        extra={
            "scene": dict(scene),
            "checkpoint": str(checkpoint),
            "shape": [int(result.sizes["y"]), int(result.sizes["x"])],
        },
    )
    return "ok", marked_outputs(folder)


def predict_scenes(
    scenes: Sequence[str] | Mapping[str, Mapping[str, Any]],
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    client: Client | None = None,
    overwrite: bool = False,
    device: str = "auto",
    progress: bool = True,
    **predict_kwargs: Any,
) -> pd.DataFrame:
    """Map glaciers in many scenes: one task per scene, resumable, on Dask workers or in-process.

    Args:
        scenes: Catalog region ids, or scene name -> spec: keyword arguments of
            :func:`glacierlab.stack.stack_region` (``{"everest-sw": {"region_id": "everest", "bbox":
            (x0, y0, x1, y1)}}``) or user rasters (``{"s1": {"inputs": {"optical": [rgb_tif, nir_tif]}}}``).
        checkpoint: Path of a glacierlab checkpoint; each worker loads it once.
        out_dir: Output folder; scene ``s`` writes ``out_dir/s/*.tif`` and ``out_dir/s/_done.json``.
        client: Dask distributed client; None runs in this process.
        overwrite: Redo scenes whose outputs are already complete (default: skip them).
        device: Device on each worker (``"auto"`` = its GPU when it has one).
        progress: tqdm bar over finished scenes.
        **predict_kwargs: Passed to :func:`glacierlab.predict.predict_scene` (window, stride, batch_size...).

    Returns:
        Status table (:func:`status_table`) with a ``scene`` column and one column per output COG.
    """
    if not isinstance(scenes, Mapping):
        scenes = {str(s): {"region_id": str(s)} for s in scenes}
    ckpt = Path(checkpoint)
    if not ckpt.is_file():
        raise ConfigError(
            f"checkpoint {ckpt} does not exist; pass the path of a glacierlab .safetensors checkpoint."
        )
    tasks = {
        name: {
            "scene": dict(kw),
            "checkpoint": str(ckpt.resolve()),
            "out_dir": str(Path(out_dir).resolve()),
            "overwrite": overwrite,
            "device": device,
            "predict": predict_kwargs,
        }
        for name, kw in scenes.items()
    }
    results = run_tasks(predict_scene_task, tasks, client=client, progress=progress, desc="predict")
    return status_table(results, key_name="scene")
