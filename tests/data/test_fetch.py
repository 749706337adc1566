"""Fetching: seed folder, cache, pooch downloads (never the real network), clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pooch
import pytest

from glacierlab.data import download as fetch_mod
from glacierlab.data.catalog import load_catalog
from glacierlab.data.download import cache_dir, fetch
from glacierlab.errors import DataNotFoundError, HashMismatchError

UNREACHABLE = "http://127.0.0.1:9/glacierlab-test/"  # discard port: connection refused, no network used


def test_seeded_file_is_used_in_place_and_hash_is_memoised(shared_data: Path) -> None:
    src = load_catalog().source("everest_l7_20001030_nir_test")
    path = fetch(src)
    assert path == shared_data / src.seed_path  # no copy of the shared data
    memo = json.loads((cache_dir() / ".sha256-memo.json").read_text())
    assert memo[str(path.resolve())][2] == src.sha256


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLACIERLAB_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GLACIERLAB_CACHE_DIR")
    assert cache_dir() == Path(pooch.os_cache("glacierlab"))


def test_download_goes_to_cache_with_companions(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shapefile is fetched as a group into the cache (pooch.retrieve replaced by a local copy)."""
    monkeypatch.setenv("GLACIERLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GLACIERLAB_SEED_DIR", raising=False)
    calls: list[str] = []

    def fake_retrieve(url: str, known_hash: str, fname: str, path: Path, progressbar: bool) -> str:
        calls.append(url)
        rel = next(e.seed_path for e in [src, *src.companions] if e.url == url)
        assert known_hash == "sha256:" + next(e.sha256 for e in [src, *src.companions] if e.url == url)
        shutil.copyfile(shared_data / rel, Path(path) / fname)
        return str(Path(path) / fname)

    src = load_catalog().source("south_glacier_outlines")
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    path = fetch(src)
    assert path == tmp_path / "cache" / src.seed_path
    assert sorted(p.suffix for p in path.parent.iterdir()) == [".cpg", ".dbf", ".prj", ".shp", ".shx"]
    assert len(calls) == 5
    fetch(src)  # second time: all cached and hash-checked, nothing downloaded
    assert len(calls) == 5


def test_partial_seed_is_copied_into_cache(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = load_catalog().source("chhota_shigri_rgi50_outlines")
    seed = tmp_path / "seed"
    for e in [src, *src.companions][:-1]:  # the .cpg is missing from this seed
        (seed / e.seed_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / e.seed_path, seed / e.seed_path)
    monkeypatch.setenv("GLACIERLAB_SEED_DIR", str(seed))
    monkeypatch.setenv("GLACIERLAB_CACHE_DIR", str(tmp_path / "cache"))
    last = src.companions[-1].model_copy(update={"url": UNREACHABLE + "x.cpg"})
    src = src.model_copy(update={"companions": (*src.companions[:-1], last)})
    with pytest.raises(DataNotFoundError) as err:
        fetch(src)
    msg = str(err.value)
    assert "RGI50-14.15990.cpg" in msg and str(tmp_path / "cache") in msg and "GLACIERLAB_SEED_DIR" in msg
    assert UNREACHABLE + "x.cpg" in msg  # how to provide it: download manually
    assert (tmp_path / "cache" / src.seed_path).is_file()  # the seeded parts were copied before failing


def test_offline_missing_file_names_file_places_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GLACIERLAB_SEED_DIR", raising=False)
    src = load_catalog().source("everest_l7_20001030_nir_test")
    src = src.model_copy(update={"url": UNREACHABLE + "B4_test.tif"})
    with pytest.raises(DataNotFoundError) as err:
        fetch(src)
    msg = str(err.value)
    assert src.seed_path in msg and str(cache_dir() / src.seed_path) in msg
    assert "GLACIERLAB_SEED_DIR" in msg and UNREACHABLE + "B4_test.tif" in msg


def test_offline_flag_and_derived_file_without_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLACIERLAB_SEED_DIR", raising=False)
    monkeypatch.setenv("GLACIERLAB_OFFLINE", "1")
    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: pytest.fail("must not download when offline"))
    with pytest.raises(DataNotFoundError, match="GLACIERLAB_OFFLINE"):
        fetch("everest_l7_20001030_nir_test")
    with pytest.raises(DataNotFoundError, match="no public download URL"):
        fetch("everest_rgi60_mask_30m")


def test_hash_mismatch_in_seed(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = load_catalog().source("everest_l7_20001030_nir_test")
    bad = tmp_path / "seed" / src.seed_path
    bad.parent.mkdir(parents=True)
    data = bytearray((shared_data / src.seed_path).read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setenv("GLACIERLAB_SEED_DIR", str(tmp_path / "seed"))
    with pytest.raises(HashMismatchError) as err:
        fetch(src)
    msg = str(err.value)
    assert src.sha256 in msg and str(bad) in msg and fetch_mod.sha256_of(bad) in msg and "delete it" in msg
