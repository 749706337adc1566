"""Batch: a task runner with a status table (Dask optional), done-markers, and scene prediction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glacierlab import lazy_exports

if TYPE_CHECKING:
    from glacierlab.batch.markers import MARKER, clear_marker, incomplete_reason, marked_outputs, write_done_marker
    from glacierlab.batch.scenes import cache_info, load_checkpoint_once, load_once, predict_scene_task, predict_scenes
    from glacierlab.batch.tasks import TaskResult, dask_client, run_tasks, status_table

_EXPORTS = {
    "TaskResult": "tasks",
    "run_tasks": "tasks",
    "dask_client": "tasks",
    "status_table": "tasks",
    "MARKER": "markers",
    "write_done_marker": "markers",
    "incomplete_reason": "markers",
    "marked_outputs": "markers",
    "clear_marker": "markers",
    "predict_scenes": "scenes",
    "predict_scene_task": "scenes",
    "load_once": "scenes",
    "load_checkpoint_once": "scenes",
    "cache_info": "scenes",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
