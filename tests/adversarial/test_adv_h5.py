"""Hostile Keras ``.h5`` weights: indirect storage (a local file copied into a shared checkpoint), shapes
that do not fit the architecture, missing layers, a tiny file declaring a 40 GB weight.

The files are copies of the Keras fixture (``../shared/fixtures/keras_glavitu``, see its README) with one
weight replaced through h5py, or made from scratch by h5py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from glacierlab.errors import CheckpointError, InputError
from glacierlab.models import import_keras

KERNEL = "output/kernel:0"  # the last layer's kernel, inside top-level group "output"
SECRET = b"ssh-rsa AAAA secret key of the user " * 100


@pytest.fixture
def h5(sandbox, shared_fixtures: Path) -> Path:
    src = shared_fixtures / "keras_glavitu" / "glavitu_global_random_weights.h5"
    if not src.exists():
        pytest.fail(f"Keras fixture missing: {src} (see ../shared/fixtures/keras_glavitu/README.md)")
    dst = sandbox.inputs / "weights.h5"
    shutil.copyfile(src, dst)
    sandbox.allow()
    return dst


def _replace(path: Path, make) -> None:
    """Replace the output kernel of ``path`` by what ``make(group, name, shape, dtype)`` creates."""
    import h5py

    with h5py.File(path, "a") as f:
        g = f["output"]
        shape, dtype = g[KERNEL].shape, g[KERNEL].dtype
        del g[KERNEL]
        make(g, KERNEL, shape, dtype)


def _secret(sandbox) -> Path:
    return sandbox.add_input("id_rsa", SECRET)


def _external(sandbox):
    secret = _secret(sandbox)
    return lambda g, n, shape, dt: g.create_dataset(n, shape, dt, external=[(str(secret), 0, h5_nbytes(shape, dt))])


def h5_nbytes(shape, dt) -> int:
    return int(np.prod(shape)) * np.dtype(dt).itemsize


def _virtual(sandbox):
    import h5py

    other = sandbox.inputs / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("data", data=np.zeros((64, 2), np.float32))
    sandbox.allow()

    def make(g, n, shape, dt):
        layout = h5py.VirtualLayout(shape=shape, dtype=dt)
        layout[:] = h5py.VirtualSource(str(other), "data", shape=shape)
        g.create_virtual_dataset(n, layout)

    return make


def _soft(sandbox):
    import h5py

    def make(g, n, shape, dt):
        g.create_dataset("output/elsewhere", data=np.zeros(shape, dt))
        g[n] = h5py.SoftLink(f"{g.name}/output/elsewhere")

    return make


def _external_link(sandbox):
    import h5py

    other = sandbox.inputs / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("k", data=np.zeros((64, 2), np.float32))
    sandbox.allow()
    return lambda g, n, shape, dt: g.__setitem__(n, h5py.ExternalLink(str(other), "/k"))


def _plugin_filter(sandbox):
    return lambda g, n, shape, dt: g.create_dataset(
        n, shape, dt, chunks=shape, compression=32015, allow_unknown_filter=True
    )  # zstd: a plugin HDF5 would look for on disk (HDF5_PLUGIN_PATH)


INDIRECT = {
    "filter-plugin": (_plugin_filter, r"HDF5 filter\(s\) \[32015\]"),
    "external-dataset": (_external, "external dataset"),
    "virtual-dataset": (_virtual, "virtual dataset"),
    "soft-link": (_soft, "SoftLink"),
    "external-link": (_external_link, "ExternalLink"),
}


@pytest.mark.parametrize("case", sorted(INDIRECT))
def test_indirect_storage_is_refused_and_nothing_is_written(sandbox, h5: Path, case: str) -> None:
    make, says = INDIRECT[case]
    _replace(h5, make(sandbox))
    sandbox.allow()
    out = sandbox.out / "model.safetensors"
    with pytest.raises(CheckpointError, match=says) as err:
        import_keras(h5, out)
    assert "output/kernel" in str(err.value) or "output/output" in str(err.value)
    assert not out.exists() and sandbox.out_files() == []


def test_external_dataset_never_reaches_a_checkpoint_via_cli(sandbox, h5: Path, capsys) -> None:
    from glacierlab.cli import main

    _replace(h5, _external(sandbox))
    sandbox.allow()
    assert main(["import-keras", str(h5), "model.safetensors"]) != 0
    assert "external dataset" in capsys.readouterr().err
    assert sandbox.out_files() == []


def test_shapes_are_checked_against_the_architecture_before_any_byte_is_read(
    sandbox, h5: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import h5py

    _replace(h5, lambda g, n, shape, dt: g.create_dataset(n, data=np.zeros((shape[0] + 3, shape[1]), dt)))
    sandbox.allow()
    reads: list[str] = []
    real = h5py.Dataset.__array__
    monkeypatch.setattr(h5py.Dataset, "__array__", lambda self, *a, **k: reads.append(self.name) or real(self, *a, **k))
    with pytest.raises(CheckpointError, match="do not fit a GlaViTU.*head.weight"):
        import_keras(h5, sandbox.out / "model.safetensors")
    assert reads == []


def test_missing_layer_is_a_clear_error_not_key_error(sandbox, h5: Path) -> None:
    import h5py

    with h5py.File(h5, "a") as f:
        names = [n.encode() if isinstance(n, str) else n for n in f.attrs["layer_names"]]
        f.attrs["layer_names"] = np.array([*names, b"ghost_layer"], dtype="S")
    sandbox.allow()
    with pytest.raises(CheckpointError, match="ghost_layer.*malformed"):
        import_keras(h5, sandbox.out / "model.safetensors")
    with h5py.File(h5, "a") as f:
        f.attrs["layer_names"] = np.array(names, dtype="S")
        f["output"].attrs["weight_names"] = np.array([b"output/kernel:0", b"output/bias:0", b"output/gamma:0"])
    sandbox.allow()
    with pytest.raises(CheckpointError, match="output/gamma"):
        import_keras(h5, sandbox.out / "model.safetensors")
    with h5py.File(h5, "a") as f:
        f["output"].attrs["weight_names"] = np.array([b"output/kernel:0", b"output/bias:0"])
        del f["SETR"].attrs["weight_names"]  # the SETR weights vanish: the mapping finds no layer
    sandbox.allow()
    with pytest.raises(CheckpointError, match="malformed GlaViTU weights file: IndexError"):
        import_keras(h5, sandbox.out / "model.safetensors")
    assert sandbox.out_files() == []


def test_tiny_file_declaring_a_40_gb_weight_is_refused_from_its_header(sandbox) -> None:
    import h5py

    path = sandbox.inputs / "bomb_weights.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"output"]
        g = f.create_group("output")
        g.attrs["weight_names"] = [b"output/kernel:0"]
        g.create_dataset("output/kernel:0", shape=(100_000, 100_000), dtype="f4", chunks=(64, 64))
    sandbox.allow()
    assert path.stat().st_size < 20_000
    with pytest.raises(InputError, match=r"37\.25 GiB.*budget of 4\.00 GiB.*GLACIERLAB_MAX_GIB"):
        import_keras(path, sandbox.out / "model.safetensors")
