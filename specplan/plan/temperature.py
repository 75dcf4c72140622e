"""Sampling temperature and the engine's acceptance rule in plan (docs/theory.md, "Temperature").

Rules: ``lossless`` (Leviathan et al.'s rejection sampling, accept with min(1, p/q), acceptance Σ min(p_T, q_T))
and ``argmax_draft`` (vLLM's default ``draft_sample_method: "greedy"``: the draft proposes its argmax, accepted
with p_T(argmax q)). At T = 0 both are greedy: accept while the argmaxes agree.

Without a measurement plan adjusts the law's α (a greedy figure) to T with one factor fitted on the published
greedy / T = 1 pairs of Leviathan et al. 2023 (Table 3): α(T) = α(0) · r^T, T ≤ ``MAX_TEMPERATURE``. No published
pairs measure argmax drafting at T > 0; its acceptance is lower than lossless (it ignores q's spread), so the
adjusted α is an upper bound there, said in a note.
"""

import math

from specplan.errors import SpecplanError

# The acceptance rules by name, as plan, `specplan acceptance` and report call them (GREEDY: T = 0, argmaxes agree).
LOSSLESS, ARGMAX_DRAFT, GREEDY = "lossless", "argmax_draft", "greedy"
RULES = (LOSSLESS, ARGMAX_DRAFT)
DRAFT_SAMPLE_METHODS = {"greedy": ARGMAX_DRAFT, "probabilistic": LOSSLESS}  # vLLM's names → plan's rules
# Greedy decoding is what most published acceptance and speedup figures report (and what the SDSL law was fitted
# on); a plan for sampling says so with --temperature.
DEFAULT_TEMPERATURE = 0.0
MAX_TEMPERATURE = 2.0
# Leviathan et al. 2023 ("Fast Inference from Transformers via Speculative Decoding", ICML), Table 3: α at T = 0
# (argmax) and T = 1 (standard sampling), lossless rule, for the pairs with a trained draft (the unigram and
# bigram drafts left out: no model). (target / draft, task): (α at T 0, α at T 1).
LEVIATHAN_TABLE_3 = {
    ("GPT-like 97M", "GPT-like 6M", "LM1B"): (0.88, 0.89),
    ("T5-XXL", "T5-small", "EnDe"): (0.75, 0.62),
    ("T5-XXL", "T5-base", "EnDe"): (0.80, 0.68),
    ("T5-XXL", "T5-large", "EnDe"): (0.82, 0.71),
    ("T5-XXL", "T5-small", "CNNDM"): (0.65, 0.53),
    ("T5-XXL", "T5-base", "CNNDM"): (0.73, 0.55),
    ("T5-XXL", "T5-large", "CNNDM"): (0.74, 0.56),
    ("LaMDA 137B", "LaMDA 100M", "dialog"): (0.61, 0.57),
    ("LaMDA 137B", "LaMDA 2B", "dialog"): (0.71, 0.71),
    ("LaMDA 137B", "LaMDA 8B", "dialog"): (0.75, 0.74),
}
SOURCE = "Leviathan et al. 2023, Table 3 (10 greedy / T = 1 pairs)"


def fitted_ratio(table: dict = LEVIATHAN_TABLE_3) -> float:
    """r = α(1) / α(0), the geometric mean over the table's pairs (least squares on log α(1) − log α(0))."""
    logs = [math.log(sampled / greedy) for greedy, sampled in table.values()]
    return math.exp(sum(logs) / len(logs))


RATIO_AT_T1 = fitted_ratio()


def adjust(alpha, temperature: float):
    """The law's greedy α at ``temperature``: α · r^T (numpy arrays or floats)."""
    return alpha * RATIO_AT_T1 ** temperature


def check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            0.0 <= temperature <= MAX_TEMPERATURE):
        raise SpecplanError(f"--temperature {temperature!r} must be a number from 0 (greedy) to {MAX_TEMPERATURE:g}")
    return float(temperature)


def resolve_rule(rule: str | None, draft_sample_method: str | None, emit: str | None) -> str:
    """The acceptance rule plan assumes: --acceptance-rule, else vLLM's --draft-sample-method, else vLLM's default
    (argmax drafting) under --emit vllm, else lossless."""
    if rule is not None and rule not in RULES:
        raise SpecplanError(f"--acceptance-rule {rule!r} is not one of {', '.join(RULES)}")
    if draft_sample_method is not None and draft_sample_method not in DRAFT_SAMPLE_METHODS:
        raise SpecplanError(f"--draft-sample-method {draft_sample_method!r} is not one of "
                            f"{', '.join(DRAFT_SAMPLE_METHODS)}")
    implied = DRAFT_SAMPLE_METHODS.get(draft_sample_method)
    if rule and implied and rule != implied:
        raise SpecplanError(f"--acceptance-rule {rule} contradicts --draft-sample-method {draft_sample_method} "
                            f"(which is {implied}): give one")
    return rule or implied or ("argmax_draft" if emit == "vllm" else "lossless")


def describe(temperature: float, rule: str) -> str:
    """The words added to a law's α source at T > 0."""
    if temperature == 0:
        return ""
    words = f", adjusted to T {temperature:g} (× {RATIO_AT_T1 ** temperature:.3f}, {SOURCE})"
    return words + (": an upper bound under argmax drafting" if rule == "argmax_draft" else "")
