"""The pure parts of benchmarks/vllm_profile_check.py: the crossover batch, the one-power-of-two rule, the checks."""

import pytest

from benchmark_scripts import load_benchmark

check = load_benchmark("vllm_profile_check")


def test_crossover_is_the_smallest_batch_below_one():
    assert check.crossover({1: 1.5, 2: 1.1, 4: 0.9, 8: 1.2}) == 4
    assert check.crossover({1: 1.5, 32: 1.01}) is None


@pytest.mark.parametrize("measured,plan,ok", [(4, 8, True), (4, 16, False), (None, 32, True), (None, 16, False),
                                              (None, None, True), (1, 2, True), (2, None, False)])
def test_within_one_power_of_two_counts_none_as_beyond_the_largest(measured, plan, ok):
    assert check.within_one_power_of_two(measured, plan, 32) is ok


def test_summary_checks_batch_1_within_ten_percent_at_every_gamma():
    measured = {(1, 1): 1.5, (1, 2): 0.9, (2, 1): 2.0, (2, 2): 1.1}
    plan = {(1, 1): 1.6, (1, 2): 0.95, (2, 1): 1.85, (2, 2): 0.9}
    summary = check.summarise(measured, plan, {1: 1.7, 2: 2.3}, [1, 2], [1, 2])
    assert summary["batch_1_ok"] is True  # 1.6 / 1.5 = 1.067, 1.85 / 2.0 = 0.925
    assert [(c["gamma"], c["measured"], c["plan"]) for c in summary["crossovers"]] == \
        [(1, 2, 2), (2, None, 2), ("best", None, 2)]
    assert summary["crossover_ok"] is True  # "pays at every B ≤ 2" counts as 4: within one power of two of 2
    plan[(2, 1)] = 2.3
    assert check.summarise(measured, plan, {1: 1.7, 2: 2.3}, [1, 2], [1, 2])["batch_1_ok"] is False
