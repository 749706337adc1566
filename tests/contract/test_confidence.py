from __future__ import annotations

import numpy as np
import pytest

from glacierlab.contract.confidence import binary_entropy, confidence, to_maxprob
from glacierlab.errors import UnknownNameError


def test_entropy_confidence_matches_the_definition() -> None:
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0, np.nan])
    c = confidence(p)
    h01 = -(0.1 * np.log2(0.1) + 0.9 * np.log2(0.9))
    hmin = -(1e-6 * np.log2(1e-6) + (1 - 1e-6) * np.log2(1 - 1e-6))
    np.testing.assert_allclose(c[:5], [1 - hmin, 1 - h01, 0.0, 1 - h01, 1 - hmin], atol=1e-6)
    assert np.isnan(c[5]) and c.dtype == np.float32
    assert 0 < c[0] < 1  # clipping keeps it below 1
    np.testing.assert_allclose(binary_entropy(np.array([0.5])), [1.0])


def test_maxprob_and_entropy_rank_identically() -> None:
    p = np.random.default_rng(0).random(1000)
    m, e = confidence(p, "maxprob"), confidence(p, "entropy")
    assert m.min() >= 0.5 and m.max() <= 1
    np.testing.assert_array_equal(np.argsort(m, kind="stable"), np.argsort(np.abs(p - 0.5), kind="stable"))
    assert np.all(np.diff(e[np.argsort(m)]) >= -1e-6)
    assert np.all(e <= m + 1e-6)  # entropy confidence is always the smaller number


def test_to_maxprob_inverts_both_conventions() -> None:
    q = np.linspace(0.5, 0.9999, 500)
    np.testing.assert_allclose(to_maxprob(confidence(q, "entropy")), q, atol=2e-5)
    np.testing.assert_allclose(to_maxprob(confidence(q, "maxprob"), "maxprob"), q, atol=1e-6)


def test_unknown_convention() -> None:
    with pytest.raises(UnknownNameError, match="maxprob"):
        confidence(np.array([0.3]), "max_prob")
