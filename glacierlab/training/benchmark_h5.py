"""Reader for the released GlaViTU benchmark HDF5 files (docs/GLAVITU_SPEC.md §3.3, NIRD doi 10.11582/2024.00168).

Layout: the root holds one group per tile (``ALP-28-23``...). Group attributes: ``region``, ``subregion``,
``tile_name``, ``epsg``, ``height``/``width`` (stored, padded), ``original_height``/``original_width``,
``padding_height``/``padding_width`` and ``xmin``/``xmax``/``ymin``/``ymax`` (lon/lat). Datasets are
(H, W, C) float64, already normalised: ``optical`` (6), ``dem`` (2), ``co_pol_sar``, ``cross_pol_sar``,
``in_sar`` (2 each), ``thermal`` (1, not everywhere) and ``outlines`` (2, one-hot; (0, 0) = no data or
padding). Tiles lacking a requested feature are dropped (feature-presence filter), as are tiles outside
the region / subregion filters.

Sampling follows §4: for training, a tile uniformly at random, then a window top-left uniformly anywhere in
the stored (padded) tile; for validation, consecutive non-overlapping windows of every tile.

The tests use a small file in this layout written by the seeded script
``tests/training/benchmark_h5/make_data.py`` (the real files are 8-243 GB).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from glacierlab.errors import CorruptFileError, DataNotFoundError, InputError, NoDataError, unknown_name
from glacierlab.training.augment import AugmentConfig, augment_sample, sample_rng

#: Dataset name of the labels inside every tile group.
OUTLINES = "outlines"


@dataclass(frozen=True)
class TileInfo:
    """Attributes of one tile group.

    Attributes:
        name: Group name in the file.
        region: Region code (ALP, AN, AWA, CA, GR, HMA, LL, NZ, SA, SC, SVAL).
        subregion: Subregion code (e.g. ALP, HMA3).
        height: Stored (padded) height in pixels.
        width: Stored (padded) width in pixels.
        features: Names of the datasets in the group (feature groups and labels).
        bounds: (xmin, ymin, xmax, ymax) in degrees, or None when absent.
    """

    name: str
    region: str
    subregion: str
    height: int
    width: int
    features: tuple[str, ...]
    bounds: tuple[float, float, float, float] | None = None

    def lonlat(self, row: float, col: float) -> tuple[float, float]:
        """(lon, lat) of a pixel position of the stored tile (linear in the bounds)."""
        if self.bounds is None:
            raise InputError(
                f"tile {self.name!r} has no xmin/xmax/ymin/ymax attributes; coordinate encoding needs them."
            )
        xmin, ymin, xmax, ymax = self.bounds
        return xmin + (col / self.width) * (xmax - xmin), ymax - (row / self.height) * (ymax - ymin)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def read_tiles(path: str | os.PathLike[str]) -> list[TileInfo]:
    """List the tiles of a benchmark file with their attributes.

    Raises:
        DataNotFoundError: The file does not exist.
        CorruptFileError: It is not HDF5 or a tile lacks the required attributes.
    """
    import h5py

    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(
            f"benchmark file {p} not found; download it from NIRD (doi 10.11582/2024.00168)."
        )
    tiles = []
    try:
        with h5py.File(p, "r") as f:
            for name, grp in f.items():
                a = grp.attrs
                try:
                    bounds: tuple[float, float, float, float] | None = None
                    if all(k in a for k in ("xmin", "ymin", "xmax", "ymax")):
                        bounds = (float(a["xmin"]), float(a["ymin"]), float(a["xmax"]), float(a["ymax"]))
                    tiles.append(
                        TileInfo(
                            name,
                            _text(a["region"]),
                            _text(a["subregion"]),
                            int(a["height"]),
                            int(a["width"]),
                            tuple(grp.keys()),
                            bounds,
                        )
                    )
                except KeyError as err:
                    raise CorruptFileError(
                        f"tile {name!r} in {p} lacks attribute {err}; expected the §3.3 layout."
                    ) from err
    except OSError as err:
        raise CorruptFileError(f"{p} is not a readable HDF5 file: {err}") from err
    return tiles


def filter_tiles(
    tiles: Iterable[TileInfo],
    features: Sequence[str] = ("optical", "dem"),
    regions: Sequence[str] | None = None,
    subregions: Sequence[str] | None = None,
) -> list[TileInfo]:
    """Keep tiles that have every feature in ``features`` (and labels) and match the filters.

    Args:
        tiles: Tiles from :func:`read_tiles`.
        features: Required feature groups.
        regions: Keep only these region codes (None: all). Unknown codes raise.
        subregions: Keep only these subregion codes (None: all). Unknown codes raise.

    Raises:
        UnknownNameError: A requested region/subregion does not occur in the file.
    """
    tiles = list(tiles)
    for kind, wanted, present in (
        ("region", regions, {t.region for t in tiles}),
        ("subregion", subregions, {t.subregion for t in tiles}),
    ):
        for code in wanted or ():
            if code not in present:
                raise unknown_name(kind, code, present, hint="The file holds no tile with that code.")
    return [
        t
        for t in tiles
        if all(g in t.features for g in (*features, OUTLINES))
        and (regions is None or t.region in regions)
        and (subregions is None or t.subregion in subregions)
    ]


def consecutive_windows(tiles: Sequence[TileInfo], window: int) -> list[tuple[int, int, int]]:
    """(tile index, row, col) of the non-overlapping windows covering each stored tile (validation)."""
    return [
        (i, r, c)
        for i, t in enumerate(tiles)
        for r in range(0, t.height - window + 1, window)
        for c in range(0, t.width - window + 1, window)
    ]


def epoch_length(tiles: Sequence[TileInfo], window: int, batch_size: int, factor: int = 4) -> int:
    """Samples per training epoch as in the paper: (whole windows of all tiles) // batch x factor x batch."""
    n = sum((t.height // window) * (t.width // window) for t in tiles)
    return max(1, n // batch_size) * factor * batch_size


class BenchmarkPatches(Dataset):
    """Windows of the tiles of one benchmark file, as samples (see :mod:`glacierlab.training.augment`).

    Args:
        path: HDF5 file in the §3.3 layout.
        features: Feature groups to read, in model order.
        window: Window side in pixels (paper 384).
        mode: ``"random"`` (training sampler, augmented) or ``"consecutive"`` (validation, not augmented).
        n_samples: Windows per epoch in random mode (default :func:`epoch_length` with batch 8).
        regions, subregions: Filters (see :func:`filter_tiles`).
        seed: Seed of the random sampler and augmentations (with the epoch and the index).
        augment: Augmentation settings (random mode; default the paper's).
        location: ``"none"``, ``"region"`` (tile attribute) or ``"coordinates"`` (window centre).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        features: Sequence[str] = ("optical", "dem"),
        window: int = 384,
        *,
        mode: str = "random",
        n_samples: int | None = None,
        regions: Sequence[str] | None = None,
        subregions: Sequence[str] | None = None,
        seed: int = 0,
        augment: AugmentConfig | None = None,
        location: str = "none",
    ) -> None:
        if mode not in ("random", "consecutive"):
            raise unknown_name("sampling mode", mode, ("random", "consecutive"))
        self.path, self.features, self.window, self.mode = Path(path), tuple(features), int(window), mode
        self.tiles = filter_tiles(read_tiles(path), self.features, regions, subregions)
        if not self.tiles:
            raise NoDataError(
                f"no tile of {self.path} has features {list(self.features)} and matches the filters."
            )
        small = [t.name for t in self.tiles if t.height < window or t.width < window]
        if small:
            raise InputError(
                f"tiles {small[:3]} are smaller than the {window}-px window; use a smaller window."
            )
        self.windows = consecutive_windows(self.tiles, self.window) if mode == "consecutive" else []
        self.n_samples = int(n_samples) if n_samples is not None else epoch_length(self.tiles, self.window, 8)
        self.seed, self.location, self.epoch = int(seed), location, 0
        self.augment = augment if augment is not None else AugmentConfig()
        self._file: Any = None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random windows and augmentations are drawn."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_samples if self.mode == "random" else len(self.windows)

    def __getstate__(self) -> dict[str, Any]:  # h5py handles do not pickle (DataLoader workers)
        return {**self.__dict__, "_file": None}

    def _h5(self) -> Any:
        if self._file is None:
            import h5py

            self._file = h5py.File(self.path, "r")
        return self._file

    def __getitem__(self, index: int) -> dict[str, Any]:
        w = self.window
        rng = None
        if self.mode == "random":
            rng = sample_rng(self.seed, self.epoch, index)
            ti = int(rng.integers(len(self.tiles)))
            t = self.tiles[ti]
            r, c = int(rng.integers(t.height - w + 1)), int(rng.integers(t.width - w + 1))
        else:
            ti, r, c = self.windows[index]
            t = self.tiles[ti]
        grp = self._h5()[t.name]
        inputs = {
            g: np.asarray(grp[g][r : r + w, c : c + w, :], dtype=np.float32).transpose(2, 0, 1)
            for g in self.features
        }
        target = np.asarray(grp[OUTLINES][r : r + w, c : c + w, :], dtype=np.float32).transpose(2, 0, 1)
        sample: dict[str, Any] = {"inputs": inputs, "target": target}
        if self.location != "none":
            from glacierlab.training.scene_dataset import location_vector

            lon, lat = t.lonlat(r + w / 2, c + w / 2) if self.location == "coordinates" else (None, None)
            sample["location"] = location_vector(self.location, t.region, lon, lat)
        if rng is not None:
            sample = augment_sample(sample, rng, self.augment)
        sample["inputs"] = {g: np.ascontiguousarray(a) for g, a in sample["inputs"].items()}
        sample["target"] = np.ascontiguousarray(sample["target"])
        return sample
