"""A test-side formula several test files check the planner against (kept beside the helpers, on the path
tests/conftest.py sets, so any one test file runs alone)."""

from specplan.plan import theory


def tokens_per_flop(alpha: float, gamma: float, target_params: float, draft_params: float) -> float:
    """T = (1 − α^(γ+1)) / (2 (M + γN)(1 − α)): throughput in tokens per FLOP under c = N/M (docs/theory.md §4)."""
    return theory.expected_tokens_per_round(alpha, gamma) / (2.0 * (target_params + gamma * draft_params))
