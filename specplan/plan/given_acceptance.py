"""Acceptance given the way engines print it, turned into plan's α (docs/metrics.md, "Relations"):

- α itself (``--alpha``);
- the mean acceptance length τ at γ, bonus token included (vLLM's "mean acceptance length", SGLang's "accept
  length"): τ = AL(α, γ) = (1 − α^(γ+1)) / (1 − α), inverted numerically (AL rises with α from 1 to γ + 1);
- the draft acceptance rate r at γ (vLLM's and llama.cpp's): r = (AL − 1) / γ, so AL = 1 + r·γ.

Each is repeatable and pairs in order with the drafts (``--draft-params`` or ``--draft``); one kind at a time.
"""

from dataclasses import dataclass
from pathlib import Path

from specplan.checks import count_in, number_in
from specplan.errors import SpecplanError
from specplan.plan import acceptance_math
from specplan.plan.temperature import describe as temperature_words


@dataclass(frozen=True)
class GivenAlpha:
    """One draft's α and where it came from (the acceptance row's and JSON ``alpha_source``'s words)."""

    alpha: float
    source: str
    option: str = "--alpha"  # the option it was given with (named when it cannot be paired with a draft)


def law_words(law, temperature: float = 0.0, rule: str = "lossless") -> str:
    """The acceptance law in words: the SDSL pooled fit, given coefficients, or a calibrated file; at T > 0 with
    its temperature adjustment."""
    if law.source == type(law).source:
        words = "SDSL law"
    else:
        words = "law --alpha-law A,B,C" if law.source == "--alpha-law" else f"calibrated law {Path(law.source).name}"
    return words + temperature_words(temperature, rule)


def alpha_from_acceptance_length(tau: float, gamma: int) -> float:
    """α whose AL(α, γ) is τ (1 < τ < γ + 1)."""
    count_in(gamma, "γ", 1, 1024)
    if not (isinstance(tau, (int, float)) and 1.0 < tau < gamma + 1):
        raise SpecplanError(f"acceptance length {tau!r} at γ {gamma} must be between 1 and {gamma + 1} (exclusive)")
    return float(acceptance_math.alpha_from_acceptance_length(tau, gamma))


def alpha_from_draft_acceptance_rate(rate: float, gamma: int) -> float:
    """α whose DAR(γ) = (AL − 1) / γ is ``rate`` (0 < rate < 1)."""
    number_in(rate, "draft acceptance rate", 0.0, 1.0, low_open=True, high_open=True)
    return alpha_from_acceptance_length(1.0 + rate * gamma, gamma)


def acceptance_length(alpha: float, gamma: int) -> float:
    return float(acceptance_math.acceptance_length(alpha, gamma))


def draft_acceptance_rate(alpha: float, gamma: int) -> float:
    return float(acceptance_math.draft_acceptance_rate(alpha, gamma))


def parse_at(text: str, option: str) -> tuple:
    """``"3.2@4"`` → (3.2, 4): a figure at a γ, as engines print it."""
    value, at, gamma = str(text).partition("@")
    try:
        figure, steps = float(value), int(gamma)
    except ValueError:
        raise SpecplanError(f"{option} {text!r} must be FIGURE@GAMMA, e.g. 3.2@4") from None
    if not at:
        raise SpecplanError(f"{option} {text!r} must be FIGURE@GAMMA, e.g. 3.2@4")
    count_in(steps, f"{option} {text!r}: γ", 1, 1024)
    return figure, steps


def given_alphas(alphas=(), lengths=(), rates=(), records=()) -> tuple:
    """The drafts' GivenAlpha in order, from the one kind of acceptance option given (none: ()); ``records`` are
    the GivenAlpha already read from --alpha-from files (plan/acceptance_record.py)."""
    kinds = [name for name, values in (("--alpha", alphas), ("--acceptance-length", lengths),
                                       ("--draft-acceptance-rate", rates), ("--alpha-from", records)) if values]
    if len(kinds) > 1:
        raise SpecplanError(f"{' and '.join(kinds)} are both given: give the drafts' acceptance one way")
    result = [GivenAlpha(float(number_in(a, "--alpha", 0.0, 1.0, low_open=True, high_open=True)),
                         "measured, --alpha") for a in alphas or ()]
    for option, texts, to_alpha in (("--acceptance-length", lengths, alpha_from_acceptance_length),
                                    ("--draft-acceptance-rate", rates, alpha_from_draft_acceptance_rate)):
        for text in texts or ():
            figure, gamma = parse_at(text, option)
            try:
                alpha = to_alpha(figure, gamma)
            except SpecplanError as error:
                raise SpecplanError(f"{option} {text}: {error}") from None
            result.append(GivenAlpha(alpha, f"from {option} {figure:g}@{gamma}", option))
    return tuple(result) + tuple(records)


def pair_with_drafts(given: tuple, draft_params: tuple, draft_names: tuple) -> dict:
    """PlanInputs' fields for the given α: paired in order with --draft-params when they are given, else with the
    --draft checkpoints (their resolved names); a one-line error when there are more than drafts, or no drafts."""
    if not given:
        return {}
    if draft_params:
        return {"alpha": tuple(g.alpha for g in given), "alpha_sources": tuple(g.source for g in given)}
    if not draft_names:
        raise SpecplanError(f"{given[0].option} needs --draft-params (or --draft): a measured acceptance belongs to "
                            "one draft")
    if len(given) > len(draft_names):
        raise SpecplanError(f"{len(given)} acceptances are given for {len(draft_names)} --draft checkpoints: give at "
                            "most one per draft, in the same order")
    return {"checkpoint_alphas": tuple(zip(draft_names, given))}
