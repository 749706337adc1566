"""Batch engine: in-process and on a 2-process LocalCluster; failures, worker loss, resume, model cache."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from glacierlab.batch.markers import MARKER, clear_marker, incomplete_reason, marked_outputs, write_done_marker
from glacierlab.batch.scenes import cache_info, load_once
from glacierlab.batch.tasks import Outcome, run_tasks, status_table
from glacierlab.files import atomic_path

distributed = pytest.importorskip(
    "distributed", reason="needs the distributed extra: pip install -e '.[distributed]'"
)


# --- a stand-in task with real outputs: writes n**2 for 0..n-1, logs each execution --------------------


def squares_task(
    task: str,
    *,
    out_dir: str,
    n: int,
    fail: bool = False,
    sleep: float = 0.0,
    overwrite: bool = False,
    gate: str | None = None,
) -> Outcome:
    folder = Path(out_dir) / task
    if incomplete_reason(folder) is None and not overwrite:
        return "skipped", marked_outputs(folder)
    clear_marker(folder)
    table = load_once(("table", n), lambda: np.arange(n, dtype=np.int64) ** 2, label=f"table-{n}")
    with open(Path(out_dir) / "runs.log", "a") as f:  # O_APPEND: one line per execution, any process
        f.write(f"{task} {os.getpid()}\n")
    time.sleep(sleep)
    if gate is not None:  # handshake: say "I am inside a task", then wait until the test opens the gate
        Path(gate, f"started-{os.getpid()}-{task}").touch()
        deadline = time.monotonic() + 120  # a safety net against a hung test, not part of the handshake
        while not Path(gate, "open").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test never opened {gate}")
            time.sleep(0.01)
    if fail:
        raise ValueError(f"scene {task} has no valid pixels")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "squares.npy", overwrite=True) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, table)
    write_done_marker(folder, [folder / "squares.npy"], extra={"n": n})
    return "ok", marked_outputs(folder)


def _runs(out: Path) -> list[str]:
    log = out / "runs.log"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def _check_output(out: Path, task: str, n: int) -> None:
    assert incomplete_reason(out / task) is None
    np.testing.assert_array_equal(np.load(out / task / "squares.npy"), np.arange(n) ** 2)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, shared_data_env: None) -> Iterator[distributed.Client]:
    # workers get their own download cache (seeded from the shared data), never the user's cache
    env = {"GLACIERLAB_CACHE_DIR": str(tmp_path_factory.mktemp("worker-cache"))}
    if os.environ.get("GLACIERLAB_SEED_DIR"):
        env["GLACIERLAB_SEED_DIR"] = os.environ["GLACIERLAB_SEED_DIR"]
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", env=env
    )
    with cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


# --- in-process ------------------------------------------------------------------------------------


def test_local_failure_collected_rest_goes_on(tmp_path: Path) -> None:
    tasks = {"a": {"n": 3}, "bad": {"n": 4, "fail": True}, "c": {"n": 5}}
    results = run_tasks(
        squares_task, {k: {**v, "out_dir": str(tmp_path)} for k, v in tasks.items()}, progress=False
    )
    table = status_table(results, key_name="scene")
    assert list(table["scene"]) == ["a", "bad", "c"] and list(table["status"]) == ["ok", "failed", "ok"]
    bad = table.iloc[1]
    assert bad["error"] == "ValueError: scene bad has no valid pixels"
    assert "Traceback" in bad["traceback"] and "squares_task" in bad["traceback"] and bad["squares"] == ""
    assert table.iloc[0]["squares"] == str(tmp_path / "a" / "squares.npy")
    _check_output(tmp_path, "a", 3)
    _check_output(tmp_path, "c", 5)
    assert not (tmp_path / "bad" / MARKER).exists()


def test_done_marker_detects_truncation_and_edits(tmp_path: Path) -> None:
    assert "no _done.json" in incomplete_reason(tmp_path)
    f = tmp_path / "x.bin"
    f.write_bytes(b"0123456789")
    write_done_marker(tmp_path, [f])
    assert incomplete_reason(tmp_path) is None
    f.write_bytes(b"01234")
    assert "5 bytes, expected 10" in incomplete_reason(tmp_path)
    f.write_bytes(b"0123456780")
    assert "sha256 differs" in incomplete_reason(tmp_path)
    f.unlink()
    assert "missing" in incomplete_reason(tmp_path)
    (tmp_path / MARKER).write_text("{not json")
    assert "unreadable" in incomplete_reason(tmp_path)


# --- on a LocalCluster (2 worker processes) -------------------------------------------------------------


def test_cluster_failure_reported_others_finish(client, tmp_path: Path) -> None:
    tasks = {f"s{i}": {"n": 10 + i, "out_dir": str(tmp_path)} for i in range(4)}
    tasks["s2"]["fail"] = True
    table = status_table(run_tasks(squares_task, tasks, client=client, progress=False), key_name="scene")
    assert list(table["status"]) == ["ok", "ok", "failed", "ok"]
    assert "scene s2 has no valid pixels" in table.iloc[2]["error"]
    for i in (0, 1, 3):
        _check_output(tmp_path, f"s{i}", 10 + i)
    pids = {w.split(":")[-1] for w in table["worker"]}
    assert str(os.getpid()) not in pids  # ran on the workers, not in the test process


def test_cluster_resume_skips_complete_and_redoes_corrupt(client, tmp_path: Path) -> None:
    tasks = {f"r{i}": {"n": 20 + i, "out_dir": str(tmp_path)} for i in range(3)}
    first = run_tasks(squares_task, tasks, client=client, progress=False)
    assert [r.status for r in first] == ["ok"] * 3
    out = tmp_path / "r1" / "squares.npy"
    out.write_bytes(out.read_bytes()[:-8])  # truncated output
    (tmp_path / "r2" / MARKER).unlink()  # interrupted before the marker was written
    second = run_tasks(squares_task, tasks, client=client, progress=False)
    assert [r.status for r in second] == ["skipped", "ok", "ok"]
    assert sorted(_runs(tmp_path)) == ["r0", "r1", "r1", "r2", "r2"]
    for i in range(3):
        _check_output(tmp_path, f"r{i}", 20 + i)
    forced = run_tasks(
        squares_task, {"r0": {**tasks["r0"], "overwrite": True}}, client=client, progress=False
    )
    assert forced[0].status == "ok" and _runs(tmp_path).count("r0") == 2


def test_one_load_per_worker_process(client, tmp_path: Path) -> None:
    tasks = {f"m{i}": {"n": 7, "out_dir": str(tmp_path), "sleep": 0.2} for i in range(6)}
    results = run_tasks(squares_task, tasks, client=client, progress=False)
    assert all(r.status == "ok" for r in results)
    used = {int(r.worker.split(":")[-1]) for r in results}
    infos = {info["pid"]: info["loads"] for info in client.run(cache_info).values()}
    assert used <= set(infos)
    for pid in used:  # each worker that ran tasks loaded the table exactly once, however many tasks it ran
        assert infos[pid].get("table-7") == 1, infos
    assert cache_info()["loads"].get("table-7") is None  # nothing was loaded in the client process


@pytest.mark.slow
def test_reports_batch_on_cluster(client, tmp_path: Path) -> None:
    pytest.importorskip("papermill", reason="needs the notebooks extra")
    from test_reports import PLOT_CELL, _notebook

    from glacierlab.reports.runner import run_reports

    template = _notebook(
        tmp_path / "t.ipynb", PLOT_CELL, 'if region == "broken":\n    raise RuntimeError("no scene")'
    )
    table = run_reports(
        ["a", "broken", "b"], tmp_path / "out", template=template, client=client, progress=False
    )
    assert list(table["status"]) == ["ok", "failed", "ok"]
    assert (tmp_path / "out" / "broken" / "notebook.ipynb").is_file()
    for r in ("a", "b"):
        assert f"region {r} scale 1.0" in (tmp_path / "out" / r / "report.html").read_text()
    assert '<tr class="failed">' in (tmp_path / "out" / "index.html").read_text()


def test_killed_worker_mid_batch_still_completes(client, tmp_path: Path) -> None:
    pids = list(client.run(os.getpid).values())
    gate = tmp_path / "gate"
    gate.mkdir()
    tasks = {f"k{i}": {"n": 30 + i, "out_dir": str(tmp_path), "gate": str(gate)} for i in range(6)}
    finished, killed = threading.Event(), threading.Event()

    def kill_inside_a_task() -> None:  # the victim said it is inside a task and is waiting at the gate
        while not finished.is_set():
            if any(p.name.split("-")[1] == str(pids[0]) for p in gate.glob("started-*")):
                os.kill(pids[0], signal.SIGKILL)
                killed.set()
                break
            time.sleep(0.01)
        (gate / "open").touch()  # let every other task (and the rerun of the killed one) finish

    killer = threading.Thread(target=kill_inside_a_task)
    killer.start()
    results = run_tasks(squares_task, tasks, client=client, progress=False)
    finished.set()
    killer.join()
    assert killed.is_set(), "the victim worker never started a task"
    assert [r.status for r in results] == ["ok"] * 6, [r.error for r in results]
    for i in range(6):
        _check_output(tmp_path, f"k{i}", 30 + i)
    assert len(_runs(tmp_path)) > 6  # the interrupted task(s) ran again on a live worker


# --- real catalog regions: batch prediction with a glavitu_tiny checkpoint --------------------------------

BANDS = {"optical": ["blue", "green", "red", "nir"]}  # optical only: stacking the 5 DEM strips is slow
WEST, EAST = (
    (86.80, 27.95, 86.88, 28.01),
    (86.90, 27.95, 86.98, 28.01),
)  # lon/lat windows of the Everest scene


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from glacierlab.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("glavitu_tiny", input_groups={g: len(b) for g, b in BANDS.items()})
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, model, bands=BANDS)
    return path


@pytest.mark.slow
def test_predict_scenes_on_cluster(client, tiny_checkpoint: Path, shared_data: Path, tmp_path: Path) -> None:
    import rasterio

    from glacierlab.batch.scenes import predict_scenes
    from glacierlab.data.stack import group, stack_region
    from glacierlab.inference.predict import predict_scene

    opt = {"region_id": "everest", "groups": ["optical"]}
    scenes = {
        "everest-w": {**opt, "bbox": WEST},
        "broken": {**opt, "bbox": (10.0, 46.0, 10.1, 46.1)},  # the Alps: not in the scene
        "everest-e": {**opt, "bbox": EAST},
    }
    kw = {"window": 64, "stride": 64, "batch_size": 8}
    out = tmp_path / "pred"
    table = predict_scenes(scenes, tiny_checkpoint, out, client=client, progress=False, **kw)
    assert list(table["scene"]) == ["everest-w", "broken", "everest-e"]
    assert list(table["status"]) == ["ok", "failed", "ok"], table["traceback"].tolist()
    assert "Error" in table.iloc[1]["error"] and "Traceback" in table.iloc[1]["traceback"]
    # same numbers as a direct in-process call on the same stack
    ds = stack_region("everest", groups=["optical"], bbox=EAST)
    with warnings.catch_warnings():  # affine 3.0 deprecation raised inside rioxarray's .rio.transform()
        warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
        inputs = {g: group(ds, g) for g in BANDS}
    ref = predict_scene(tiny_checkpoint, inputs, device="cpu", progress=False, **kw)
    for layer in ("probability", "mask", "confidence"):
        with rasterio.open(table.set_index("scene").loc["everest-e", layer]) as src:
            assert (src.height, src.width) == ref[layer].shape and src.crs == ds.rio.crs
            np.testing.assert_allclose(src.read(1), ref[layer].values, atol=1e-6)
            east = src.transform
    with rasterio.open(out / "everest-w" / "probability.tif") as src:
        assert src.height * src.width > 0 and src.transform.c < east.c  # the western window
    loads = [info["loads"].get("tiny.safetensors@cpu", 0) for info in client.run(cache_info).values()]
    assert max(loads) == 1  # one model load per worker, not per scene
    again = predict_scenes(scenes, tiny_checkpoint, out, client=client, progress=False, **kw)
    assert list(again["status"]) == ["skipped", "failed", "skipped"]
    assert json.loads((out / "everest-e" / MARKER).read_text())["extra"]["scene"]["bbox"] == list(EAST)
