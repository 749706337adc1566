"""Adversarial suite fixtures: a sandbox whose files outside the output/cache folder must never change.

Every test gets :func:`sandbox`: a folder holding ``out/`` (where the call under test may write),
``victim/`` (bait files named like glacierlab outputs: ``report.html``, ``_done.json``, ``notebook.ipynb``,
``probability.tif``...) and ``inputs/``. The working folder is ``out/`` so that ``..`` attacks aim at the
bait. :meth:`Sandbox.assert_untouched` hashes every file of the sandbox outside the allowed folders and
compares with the snapshot taken when the fixture was created: a file added, removed or changed there
fails the test and is named.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from adv_helpers import DEM, OPTICAL, write_tif

BAIT = ("report.html", "_done.json", "notebook.ipynb", "probability.tif", "mask.tif", "uncertainty.tif")


def snapshot(root: Path, allowed: Iterable[Path] = ()) -> dict[str, str]:
    """Relative path -> sha256 (``"<dir>"`` for folders) of everything under ``root`` outside ``allowed``."""
    allowed = [a.resolve() for a in allowed]
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath).resolve()
        dirnames[:] = [d for d in dirnames if (here / d).resolve() not in allowed]
        for d in dirnames:
            out[str((here / d).relative_to(root.resolve()))] = "<dir>"
        for f in filenames:
            p = here / f
            out[str(p.relative_to(root.resolve()))] = (
                hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<special>"
            )
    return out


@dataclass
class Sandbox:
    """A folder tree with bait files; see the module docstring."""

    root: Path
    allowed: list[Path] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        """The folder the call under test may write into."""
        return self.root / "out"

    @property
    def victim(self) -> Path:
        """A folder outside the output holding files named like outputs."""
        return self.root / "victim"

    @property
    def inputs(self) -> Path:
        """Input files of the test (read, never written)."""
        return self.root / "inputs"

    def allow(self, *paths: Path) -> None:
        """Allow writes under ``paths`` too (e.g. a cache), and take the snapshot again."""
        self.allowed += [Path(p) for p in paths]
        self.before = snapshot(self.root, self.allowed)

    def add_input(self, name: str, data: bytes | str) -> Path:
        """Write an input file under ``inputs/`` (before the call under test) and take the snapshot again."""
        path = self.inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        self.allow()
        return path

    def assert_untouched(self) -> None:
        """Fail naming every file outside the allowed folders that was added, removed or changed."""
        after = snapshot(self.root, self.allowed)
        added = sorted(set(after) - set(self.before))
        removed = sorted(set(self.before) - set(after))
        changed = sorted(k for k in set(after) & set(self.before) if after[k] != self.before[k])
        assert not (added or removed or changed), f"added {added}, removed {removed}, changed {changed}"

    def out_files(self) -> list[str]:
        """Every file under ``out/``, relative, sorted (hidden temporaries included)."""
        return sorted(str(p.relative_to(self.out)) for p in self.out.rglob("*") if p.is_file())


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A :class:`Sandbox` with bait files; the working folder is its ``out/``.

    The untouched check runs after the test too, so no test can forget it.
    """
    root = tmp_path / "sandbox"
    for d in ("out", "victim", "inputs"):
        (root / d).mkdir(parents=True)
    for name in BAIT:
        (root / "victim" / name).write_text(f"bait {name}: must never be touched\n")
        (root / name).write_text(f"bait {name} one level up\n")
    monkeypatch.chdir(root / "out")
    box = Sandbox(root, [root / "out"])
    box.before = snapshot(root, box.allowed)
    yield box
    box.assert_untouched()


@pytest.fixture
def scene(sandbox: Sandbox) -> dict[str, Path]:
    """A valid 48x48 px scene for the session's tiny checkpoint: ``{"optical": tif, "dem": tif}``."""
    rng = np.random.default_rng(0)
    opt = rng.integers(0, 255, (4, 48, 48)).astype(np.float32)
    dem = np.stack([rng.uniform(4800, 6000, (48, 48)), rng.uniform(0, 60, (48, 48))]).astype(np.float32)
    box = sandbox.inputs
    paths = {
        "optical": write_tif(box / "optical.tif", opt, names=OPTICAL),
        "dem": write_tif(box / "dem.tif", dem, names=DEM),
    }
    sandbox.allow()
    return paths


@dataclass
class Remote:
    """Files served over HTTP on localhost (a stand-in for a data host; no network needed)."""

    folder: Path
    url: str

    def publish(self, name: str, data: bytes) -> tuple[str, str, int]:
        """Serve ``data`` as ``name``; returns (url, sha256, size) for a catalog entry."""
        (self.folder / name).write_bytes(data)
        return f"{self.url}/{name}", hashlib.sha256(data).hexdigest(), len(data)


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    """A :class:`Remote` served by a thread of this process for the duration of the test."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    folder = tmp_path / "remote"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Remote(folder, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
