"""α for a named pair from the published table (``plan/published_acceptance.yaml``), in this order:

1. **the pair's own entries**: the target's and draft's names match an entry's (case-insensitive, the hub
   organisation left out); of those, the entries of the task asked for where there are any, then the ones at the
   temperature nearest plan's (an entry whose temperature is not stated only when the pair has no stated one;
   ties averaged). A stated temperature T_e is carried to plan's T with the law's own factor r^(T − T_e)
   (plan/temperature.py);
2. **the family's offset**: for another pair of a family with entries, the law's α shifted in log-odds by the
   mean of logit(α_published) − logit(α_law) over that family's entries (the law evaluated at each entry's
   sizes, training tokens and temperature);
3. else None: the law alone (the caller's).

A figure published as τ or DAR at γ converts to the i.i.d. α with the same tokens per round at that γ
(plan/acceptance_math.py); it says nothing about positions past γ, so such an α carries ``gamma_cap``: plan does
not choose a γ beyond the largest γ the figures were measured at (docs/plan.md, "Published acceptance").
Pure: no torch.
"""

import math
from dataclasses import dataclass

from specplan.plan import temperature as temperatures
from specplan.plan.inputs import DEFAULT_DRAFT_TOKENS, DEFAULT_TARGET_TOKENS
from specplan.plan.published_acceptance import PublishedAcceptance, load_published_acceptance
from specplan.plan.scaling import ALPHA_CEIL, ALPHA_FLOOR, AlphaLaw, perplexity


@dataclass(frozen=True)
class PairAlpha:
    """A draft's α from the published table, the words for ``alpha_source``, and the γ it is known up to."""

    alpha: float
    source: str
    gamma_cap: int | None = None  # None: known at every γ (an α published as α, or no γ stated)
    kind: str = "published"  # "published" (the pair's entry) or "family" (the family's offset)


_ENTRIES: tuple | None = None


def entries() -> tuple:
    """The bundled table, read once."""
    global _ENTRIES
    if _ENTRIES is None:
        _ENTRIES = load_published_acceptance()
    return _ENTRIES


def name_key(name: str) -> str:
    """A model name as the table is matched: lower case, without the hub organisation (``meta-llama/``)."""
    return str(name).rsplit("/", 1)[-1].strip().lower()


def _clip(alpha: float) -> float:
    return min(max(float(alpha), ALPHA_FLOOR), ALPHA_CEIL)


def logit(alpha: float) -> float:
    alpha = _clip(alpha)
    return math.log(alpha / (1.0 - alpha))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def law_alpha(law: AlphaLaw, target_params: float, target_tokens: float, draft_params: float, draft_tokens: float,
              temperature: float = 0.0) -> float:
    """The law's α for one pair at ``temperature`` (as plan/costs.py's ``acceptance``)."""
    alpha = law.acceptance(perplexity(draft_params, draft_tokens), perplexity(target_params, target_tokens))
    return _clip(temperatures.adjust(alpha, temperature))


def at_temperature(alpha: float, measured_at: float | None, temperature: float) -> float:
    """A published α carried from the temperature it was measured at to plan's: α · r^(T − T_e)."""
    if measured_at is None or measured_at == temperature:
        return float(alpha)
    return _clip(alpha * temperatures.RATIO_AT_T1 ** (temperature - measured_at))


def pair_entries(table, target: str, draft: str) -> list:
    """The entries of one pair that convert to an α."""
    t, d = name_key(target), name_key(draft)
    return [e for e in table if e.alpha is not None and name_key(e.target) == t and name_key(e.draft) == d]


def nearest(found: list, temperature: float, task: str | None = None) -> list:
    """The entries nearest ``temperature`` (and ``task`` where the pair has it); ties all kept."""
    same_task = [e for e in found if task is not None and e.task == task]
    found = same_task or found
    stated = [e for e in found if e.temperature is not None]
    if not stated:
        return found
    best = min(abs(e.temperature - temperature) for e in stated)
    return [e for e in stated if abs(e.temperature - temperature) == best]


def _gamma_cap(used: list) -> int | None:
    """The largest γ the figures were measured at, when every one of them was a τ or DAR at a γ."""
    gammas = [e.gamma for e in used if e.definition != "alpha"]
    return max(gammas) if gammas and len(gammas) == len(used) else None


def _entry_words(used: list, temperature: float) -> str:
    """``published: <source> (T 0, task)`` for the entries used."""
    parts = []
    for e in used:
        where = "T not stated" if e.temperature is None else f"T {e.temperature:g}"
        if e.temperature is not None and e.temperature != temperature:
            where += f", carried to T {temperature:g} × {temperatures.RATIO_AT_T1 ** (temperature - e.temperature):.3f}"
        figure = (f"α {e.figure:g}" if e.definition == "alpha" else
                  f"{'τ' if e.definition == 'acceptance_length' else 'DAR'} {e.figure:g}@{e.gamma}")
        parts.append(f"{e.source} ({where}, {e.task}; {figure})")
    return ("published: " + "; ".join(parts) + (", averaged" if len(used) > 1 else ""))


def from_entries(found: list, temperature: float, task: str | None = None) -> PairAlpha | None:
    """The pair's α from its own entries (nearest temperature and task, ties averaged); None without entries."""
    used = nearest(found, temperature, task)
    if not used:
        return None
    alpha = sum(at_temperature(e.alpha, e.temperature, temperature) for e in used) / len(used)
    return PairAlpha(_clip(alpha), _entry_words(used, temperature), _gamma_cap(used), "published")


def _entry_law_alpha(entry: PublishedAcceptance, law: AlphaLaw) -> float | None:
    if entry.target_params is None or entry.draft_params is None:
        return None
    return law_alpha(law, entry.target_params, entry.target_tokens or DEFAULT_TARGET_TOKENS, entry.draft_params,
                     entry.draft_tokens or DEFAULT_DRAFT_TOKENS, entry.temperature or 0.0)


def family_offset(table, family: str | None, law: AlphaLaw) -> tuple | None:
    """(offset in log-odds, the entries it was fitted on) for ``family``; None where it has no usable entry."""
    if family is None:
        return None
    fitted = [(e, _entry_law_alpha(e, law)) for e in table if e.family == family and e.alpha is not None]
    fitted = [(e, a) for e, a in fitted if a is not None]
    if not fitted:
        return None
    offset = sum(logit(e.alpha) - logit(a) for e, a in fitted) / len(fitted)
    return offset, [e for e, _ in fitted]


def from_family(table, family: str | None, law: AlphaLaw, law_value: float) -> PairAlpha | None:
    """The law's α for a pair of ``family`` shifted by the family's offset; None without one."""
    fit = family_offset(table, family, law)
    if fit is None:
        return None
    offset, used = fit
    sources = sorted({e.source for e in used})
    words = (f"family offset: {law_value:.3f} from the law, {offset:+.2f} in log-odds fitted on {len(used)} "
             f"published {family} entr{'y' if len(used) == 1 else 'ies'} ({'; '.join(sources)})")
    return PairAlpha(_clip(sigmoid(logit(law_value) + offset)), words, _gamma_cap(used), "family")


def pair_alpha(target: str, draft: str, family: str | None, law: AlphaLaw, law_value: float, temperature: float,
               task: str | None = None, table=None) -> PairAlpha | None:
    """The published α for the pair, else its family's offset, else None (the law). ``law_value`` is the law's α
    for this pair at ``temperature``; ``table`` defaults to the bundled one."""
    table = entries() if table is None else table
    return (from_entries(pair_entries(table, target, draft), temperature, task)
            or from_family(table, family, law, law_value))
