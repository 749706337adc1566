"""Batch: a task runner with a status table (Dask optional), done-markers, and scene prediction.

It exports no names: import each from its module (e.g. ``from glacierlab.batch.tasks import run_tasks``),
so a name has one spelling.
"""
