"""Batch scene prediction: one model load per worker process, one resumable task per scene.

Models are loaded once per worker process (:func:`load_once`), not once per task. See ``docs/scaling.md``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from glacierlab.batch.markers import clear_marker, incomplete_reason, marked_outputs, write_done_marker
from glacierlab.batch.tasks import Outcome, run_tasks, status_table
from glacierlab.errors import ConfigError
from glacierlab.files import inside, safe_name

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

log = logging.getLogger(__name__)

T = TypeVar("T")


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
    from glacierlab.models.device import resolve_device

    p = Path(path).resolve()
    st = p.stat()
    device = resolve_device(device)

    def _load() -> Any:
        return load_checkpoint(p, map_location=device)

    return load_once((str(p), st.st_mtime_ns, st.st_size, device), _load, label=f"{p.name}@{device}")


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
            arguments of :func:`glacierlab.data.stack.stack_region` (``region_id``, ``bbox``...).
        checkpoint: Path of a glacierlab checkpoint (loaded once per worker process).
        out_dir: Batch output folder.
        overwrite: Redo the scene even when its outputs are complete.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:n]"``, resolved on the worker.
        predict: Extra keyword arguments of :func:`glacierlab.inference.predict.predict_scene` (window, stride...).

    Returns:
        ``("skipped", outputs)`` when the outputs were complete, else ``("ok", outputs)``.
    """
    from glacierlab.inference.predict import predict_scene

    folder = inside(out_dir, safe_name(task, "scene name"), "scene folder")
    reason = incomplete_reason(folder)
    if reason is None and not overwrite:
        log.info("scene %s: outputs complete, skipped", task)
        return "skipped", marked_outputs(folder)
    log.info("scene %s: running (%s)", task, "overwrite requested" if reason is None else reason)
    clear_marker(folder)
    if "inputs" in scene:
        inputs = scene["inputs"]
    else:
        from glacierlab.data.stack import stack_region

        inputs = stack_region(**scene)  # predict_scene reads each group's bands by name
    ckpt = load_checkpoint_once(checkpoint, device)
    kwargs = {"progress": False, **dict(predict or {})}
    result = predict_scene(ckpt, inputs, device=device, out_dir=folder, overwrite=True, **kwargs)
    # exactly this run's outputs (never an older run's file or a hidden temporary left by a killed run)
    from glacierlab.inference.writers import output_path

    prefix = str(kwargs.get("prefix", ""))
    files = [output_path(folder, str(name), prefix) for name in result.data_vars]
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        raise ConfigError(
            f"predict_scene did not write {[str(f) for f in missing] or 'any GeoTIFF'} into {folder}; "
            "expected probability/mask/confidence COGs."
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
            :func:`glacierlab.data.stack.stack_region` (``{"everest-sw": {"region_id": "everest", "bbox":
            (x0, y0, x1, y1)}}``) or user rasters (``{"s1": {"inputs": {"optical": [rgb_tif, nir_tif]}}}``).
        checkpoint: Path of a glacierlab checkpoint; each worker loads it once.
        out_dir: Output folder; scene ``s`` writes ``out_dir/s/*.tif`` and ``out_dir/s/_done.json``.
        client: Dask distributed client; None runs in this process.
        overwrite: Redo scenes whose outputs are already complete (default: skip them).
        device: Device on each worker (``"auto"`` = its GPU when it has one).
        progress: tqdm bar over finished scenes.
        **predict_kwargs: Passed to :func:`glacierlab.inference.predict.predict_scene` (window, stride, batch_size...).

    Returns:
        Status table (:func:`status_table`) with a ``scene`` column and one column per output COG.
    """
    if not isinstance(scenes, Mapping):
        if isinstance(scenes, str):
            raise ConfigError(f"scenes must be a list of ids or a mapping name -> spec, got the string {scenes!r}.")
        scenes = {str(s): {"region_id": str(s)} for s in scenes}
    for name in scenes:  # names become folder names under out_dir: check them before touching any file
        safe_name(name, "scene name")
    from glacierlab.models.header import check_checkpoint_file

    ckpt = Path(checkpoint)
    check_checkpoint_file(ckpt)  # once here, not once per scene
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
