"""Intervals of success rates: Wilson per cell, the clustered bootstrap over agent seeds."""

from __future__ import annotations

import pytest

from ebmplan.common.stats import seed_bootstrap, wilson


def test_wilson_interval():
    low, high = wilson(90, 100)
    assert 0.82 < low < 0.83 and 0.94 < high < 0.95
    assert wilson(0, 100)[0] == 0.0 and wilson(100, 100)[1] == pytest.approx(1.0)
    for n in (1, 7, 100, 1200, 12345):  # the interval holds the rate exactly, even at 0 and 1 (plots need it)
        for k in (0, 1, n // 2, n - 1, n):
            low, high = wilson(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0


def test_seed_bootstrap_widens_when_the_seeds_disagree():
    agree = seed_bootstrap([(70, 100), (70, 100), (70, 100)])
    disagree = seed_bootstrap([(40, 100), (70, 100), (100, 100)])  # same pooled rate, 0.7
    for low, high in (agree, disagree):
        assert low < 0.7 < high
    assert disagree[1] - disagree[0] > 2 * (agree[1] - agree[0])
    # the pooled Wilson interval of 210/300 treats the 300 episodes as independent: far narrower
    naive = wilson(210, 300)
    assert disagree[1] - disagree[0] > 2 * (naive[1] - naive[0])


def test_seed_bootstrap_of_one_seed_is_close_to_wilson():
    low, high = seed_bootstrap([(300, 1000)])
    w = wilson(300, 1000)
    assert low == pytest.approx(w[0], abs=0.01) and high == pytest.approx(w[1], abs=0.01)
    assert seed_bootstrap([(5, 5), (5, 5)]) == (1.0, 1.0)
