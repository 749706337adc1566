from __future__ import annotations

import numpy as np
import pytest

from glacierlab.errors import ConfigError, UnknownNameError
from glacierlab.inference.tiling import gaussian_weights, iter_windows, pad_to_window, window_rows, window_starts


@pytest.mark.parametrize(
    ("size", "window", "stride"),
    [
        (1, 8, 4),
        (7, 8, 4),
        (8, 8, 4),
        (9, 8, 4),
        (100, 16, 7),
        (167, 64, 40),
        (193, 64, 64),
        (384, 384, 192),
        (1000, 384, 192),
    ],
)
def test_window_starts_cover_every_pixel_and_end_on_the_edge(size: int, window: int, stride: int) -> None:
    starts = window_starts(size, window, stride)
    covered = np.zeros(size, int)
    for s in starts:
        assert s >= 0
        covered[s : s + window] += 1
    assert covered.min() >= 1
    assert starts == sorted(set(starts))
    assert np.all(np.diff(starts) <= stride)
    if size >= window:
        assert starts[-1] + window == size  # no window runs past the edge
    else:
        assert starts == [0]


def test_window_rows_shape_and_in_scene_sizes() -> None:
    rows = window_rows(167, 193, 64, 40)
    assert len(rows) == len(window_starts(167, 64, 40))
    assert all(len(r) == len(window_starts(193, 64, 40)) for r in rows)
    for win in iter_windows(167, 193, 64, 40):
        assert win.row + win.height <= 167 and win.col + win.width <= 193
    small = window_rows(30, 50, 64, 32)
    assert len(small) == 1 and len(small[0]) == 1
    assert (small[0][0].height, small[0][0].width) == (30, 50)


def test_gaussian_weights_match_the_paper() -> None:
    w = gaussian_weights(385)  # odd size: exact centre and edge midpoints exist
    assert w.dtype == np.float32 and w.shape == (385, 385)
    assert w[192, 192] == pytest.approx(1.0)
    assert w[0, 192] == pytest.approx(np.exp(-0.5), rel=1e-6)  # ~0.61
    assert w[0, 0] == pytest.approx(np.exp(-1.0), rel=1e-6)  # ~0.37
    assert np.allclose(w, w.T) and np.allclose(w, w[::-1]) and w.min() > 0


def test_pad_to_window_modes() -> None:
    a = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    r = pad_to_window(a, 8)
    assert r.shape == (2, 8, 8)
    np.testing.assert_array_equal(r[:, :3, :5], a)
    np.testing.assert_array_equal(r[:, 3, :5], a[:, 1])  # reflected row
    c = pad_to_window(a, 8, "constant")
    assert c[:, 3:].sum() == 0 and c[:, :, 5:].sum() == 0
    one = pad_to_window(np.ones((1, 1, 4), np.float32), 8)  # a single row cannot reflect: edge copy
    assert one.shape == (1, 8, 8) and np.all(one == 1)
    b = a[:, :3, :3]
    assert pad_to_window(b, 3) is b  # already window-sized: returned unchanged


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ConfigError, match="stride"):
        window_starts(100, 16, 17)
    with pytest.raises(ConfigError, match="stride"):
        window_starts(100, 16, 0)
    with pytest.raises(ConfigError, match="size"):
        window_starts(0, 16, 8)
    with pytest.raises(UnknownNameError, match="reflect"):
        pad_to_window(np.zeros((1, 2, 2)), 4, "wrap")
    with pytest.raises(ConfigError, match="larger"):
        pad_to_window(np.zeros((1, 5, 2)), 4)
