"""Concurrency: two processes writing one output (one wins cleanly), two fetches into one cache.

Each case starts real processes (subprocess), so the races are between processes, not threads.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from adv_helpers import script

OUTPUTS = ["confidence.tif", "mask.tif", "probability.tif"]


def _start(code: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    import os

    return subprocess.Popen(
        [sys.executable, "-c", script(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    return [(p.wait(timeout=180), *p.communicate()) for p in procs]


def test_two_writers_one_output_one_wins(sandbox) -> None:
    """Both pass the existence check before either publishes: the hard-link publish lets exactly one win."""
    final = sandbox.out / "probability.tif"
    code = """
        import sys, time
        from pathlib import Path
        from glacierlab.errors import OutputExistsError
        from glacierlab.files import atomic_path

        me, other, final = sys.argv[1], sys.argv[2], Path(sys.argv[3])
        try:
            with atomic_path(final) as tmp:
                tmp.write_bytes(me.encode() * 100_000)
                (final.parent / f"ready-{me}").touch()
                while not (final.parent / f"ready-{other}").exists():  # both written, neither published
                    time.sleep(0.01)
        except OutputExistsError as exc:
            print("LOST", exc)
            sys.exit(3)
        print("WON")
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script(code), me, other, str(final)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    results = _finish(procs)
    codes = sorted(r[0] for r in results)
    assert codes == [0, 3], results
    winner = next(r for r in results if r[0] == 0)
    loser = next(r for r in results if r[0] == 3)
    assert "appeared while this output was being written" in loser[1] and str(final) in loser[1]
    data = final.read_bytes()
    assert data in (b"a" * 100_000, b"b" * 100_000)  # one complete file, never a mix
    assert "WON" in winner[1]
    assert sorted(p.name for p in sandbox.out.iterdir()) == ["probability.tif", "ready-a", "ready-b"]


@pytest.mark.slow
def test_two_predictions_into_one_folder(sandbox, scene, tiny_checkpoint: Path) -> None:
    inputs = {g: str(p) for g, p in scene.items()}
    code = f"""
        import sys
        from glacierlab.errors import OutputExistsError
        from glacierlab.inference.predict import predict_scene
        try:
            predict_scene({str(tiny_checkpoint)!r}, {inputs!r}, out_dir={str(sandbox.out)!r},
                          window=64, stride=64, device="cpu", progress=False)
        except OutputExistsError as exc:
            print("LOST", exc)
            sys.exit(3)
    """
    results = _finish([_start(code), _start(code)])
    codes = sorted(r[0] for r in results)
    assert codes == [0, 3], results  # never both: the later one finds the outputs (or loses the race)
    assert "LOST" in next(r[1] for r in results if r[0] == 3)
    assert sandbox.out_files() == OUTPUTS  # one run's outputs, no temporaries of the other


def test_two_fetches_into_one_cache(sandbox, remote) -> None:
    data = bytes(range(256)) * 4000
    url, sha, size = remote.publish("dem.tif", data)
    cache = sandbox.root / "cache"
    sandbox.allow(cache)
    (cache / "remote").mkdir(parents=True)
    (cache / "remote" / "dem.tif").write_bytes(data[:1000])  # a corrupt copy both will find and replace
    code = f"""
        from glacierlab.data.catalog import Source
        from glacierlab.data.download import fetch
        src = Source(id="dem_x", kind="raster", origin="t", url={url!r}, seed_path="remote/dem.tif",
                     sha256={sha!r}, size={size}, licence="CC0", citation="t",
                     bands=({{"name": "elevation", "role": "dem"}},))
        print(fetch(src))
    """
    env = {"GLACIERLAB_CACHE_DIR": str(cache), "GLACIERLAB_SEED_DIR": "", "GLACIERLAB_OFFLINE": ""}
    results = _finish([_start(code, env), _start(code, env)])
    assert [r[0] for r in results] == [0, 0], results
    assert {r[1].strip() for r in results} == {str(cache / "remote" / "dem.tif")}
    assert hashlib.sha256((cache / "remote" / "dem.tif").read_bytes()).hexdigest() == sha
    left = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert left == [".sha256-memo.json", "dem.tif"], left  # no temporaries of either download
