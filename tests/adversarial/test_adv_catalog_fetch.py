"""Hostile catalogs and caches: binary or tagged YAML, corrupt cached files, changed upstream files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from glacierlab.data.catalog import Source, load_catalog
from glacierlab.data.download import fetch
from glacierlab.errors import CatalogError, DataNotFoundError, HashMismatchError, WriteError


def _source(url: str | None, sha: str, size: int, seed_path: str = "remote/dem.tif") -> Source:
    return Source(
        id="dem_x",
        kind="raster",
        origin="test",
        url=url,
        seed_path=seed_path,
        sha256=sha,
        size=size,
        licence="CC0",
        citation="test",
        bands=({"name": "elevation", "role": "dem"},),
    )


@pytest.fixture
def cache(sandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache inside the sandbox (writes allowed there), no seed folder."""
    folder = sandbox.root / "cache"
    monkeypatch.setenv("GLACIERLAB_CACHE_DIR", str(folder))
    monkeypatch.delenv("GLACIERLAB_SEED_DIR", raising=False)
    monkeypatch.delenv("GLACIERLAB_OFFLINE", raising=False)
    sandbox.allow(folder)
    return folder


def test_binary_file_as_catalog(sandbox) -> None:
    path = sandbox.add_input("catalog.yaml", bytes(range(256)) * 4)
    with pytest.raises(CatalogError, match=r"catalog\.yaml is not a text \(UTF-8 YAML\) file"):
        load_catalog(path)


def test_folder_as_catalog(sandbox) -> None:
    with pytest.raises(CatalogError, match=r"catalog file not found: .*inputs; pass path="):
        load_catalog(sandbox.inputs)


def test_yaml_python_tag_is_not_executed(sandbox) -> None:
    marker = sandbox.victim / "pwned.txt"
    path = sandbox.add_input("catalog.yaml", f"version: 1\nx: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(CatalogError, match=r"catalog\.yaml is not valid YAML.*python/object/apply"):
        load_catalog(path)
    assert not marker.exists()


def test_catalog_top_level_list(sandbox) -> None:
    path = sandbox.add_input("catalog.yaml", "- version: 1\n")
    with pytest.raises(CatalogError, match=r"catalog\.yaml: expected a mapping at the top level, got list"):
        load_catalog(path)


def test_corrupt_cached_file_is_reported_and_replaced(
    sandbox, cache: Path, remote, caplog: pytest.LogCaptureFixture
) -> None:
    url, sha, size = remote.publish("dem.tif", b"real elevation bytes" * 50)
    cached = cache / "remote" / "dem.tif"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"real elevation bytes" * 25)  # an interrupted earlier download
    with caplog.at_level(logging.WARNING, logger="glacierlab.data.download"):
        got = fetch(_source(url, sha, size))
    assert got == cached and cached.read_bytes() == b"real elevation bytes" * 50
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(cached) in m and "deleting it and fetching it again" in m for m in warned), warned


def test_upstream_changed_leaves_no_file(sandbox, cache: Path, remote) -> None:
    url, sha, size = remote.publish("dem.tif", b"version 1")
    (remote.folder / "dem.tif").write_bytes(b"version 2, edited upstream")
    with pytest.raises(HashMismatchError, match=rf"download of {url} .* does not match the catalog sha256 {sha}"):
        fetch(_source(url, sha, size))
    assert not (cache / "remote" / "dem.tif").exists()
    assert [p.name for p in cache.rglob("*") if p.is_file() and "memo" not in p.name] == []


def test_missing_upstream_file(sandbox, cache: Path, remote) -> None:
    src = _source(f"{remote.url}/gone.tif", "0" * 64, 10)
    with pytest.raises(DataNotFoundError, match=r"could not download .*gone\.tif.*GLACIERLAB_SEED_DIR"):
        fetch(src)


def test_offline_missing_file_names_it_and_the_fix(sandbox, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLACIERLAB_OFFLINE", "1")
    with pytest.raises(
        DataNotFoundError, match=r"remote/dem\.tif .* GLACIERLAB_OFFLINE is set.*Set GLACIERLAB_SEED_DIR"
    ):
        fetch(_source("https://example.org/dem.tif", "0" * 64, 10))


def test_seed_with_wrong_hash_is_kept(sandbox, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed folder is the user's: a mismatching file there is reported, never deleted or rewritten."""
    seed_file = sandbox.add_input("seed/remote/dem.tif", b"not what the catalog says")
    monkeypatch.setenv("GLACIERLAB_SEED_DIR", str(sandbox.inputs / "seed"))
    with pytest.raises(HashMismatchError, match=r"seed file .*remote/dem\.tif.*delete it and fetch again"):
        fetch(_source(None, "0" * 64, 25))
    assert seed_file.read_bytes() == b"not what the catalog says"


def test_cache_blocked_by_a_file(sandbox, cache: Path, remote) -> None:
    url, sha, size = remote.publish("dem.tif", b"bytes")
    cache.mkdir()
    (cache / "remote").write_text("a file where the cache needs a folder")
    with pytest.raises(WriteError, match=r"cannot write .*remote/dem\.tif.*not a folder"):
        fetch(_source(url, sha, size))
