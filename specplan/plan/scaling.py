"""SDSL scaling laws: perplexity from model and data size, acceptance from perplexities (docs/theory.md §3).

Pure functions, no torch. Sources: Besiroglu et al. 2024 (arXiv 2404.10102) refit of the Chinchilla loss law;
Bozorgkhoo & Molybog 2026, SDSL (arXiv 2603.11053) acceptance law and pooled sizing rule.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from specplan.errors import SpecplanError

# Acceptance is clipped into (0, 1) so that the speculative formulas stay defined far outside the fit's range.
ALPHA_FLOOR = 1e-6
ALPHA_CEIL = 1.0 - 1e-6


def perplexity(params: float, tokens: float) -> float:
    """ppl(N, D) = exp(1.8172 + 482.01·N^(−0.3478) + 2085.43·D^(−0.3658)) in nats/token (docs/theory.md §3,
    Besiroglu et al. refit of Chinchilla; N = parameters, D = training tokens)."""
    return math.exp(1.8172 + 482.01 * params**-0.3478 + 2085.43 * tokens**-0.3658)


@dataclass(frozen=True)
class AlphaLaw:
    """α = A·x + B·y + C with x = draft perplexity, y = target perplexity (docs/theory.md §3, SDSL pooled fit, R² = 0.60).

    The defaults are the paper's pooled coefficients; ``specplan calibrate`` fits a user's own.
    """

    a: float = -0.0067
    b: float = 0.012971
    c: float = 0.642084
    source: str = "SDSL pooled fit (arXiv 2603.11053)"

    def acceptance(self, draft_ppl: float, target_ppl: float) -> float:
        """Predicted acceptance α, clipped into (0, 1)."""
        alpha = self.a * draft_ppl + self.b * target_ppl + self.c
        return min(max(alpha, ALPHA_FLOOR), ALPHA_CEIL)


def pooled_rule_draft_params(target_params: float) -> float:
    """N* ≈ 2.71e-3·M + 8.71e7: SDSL's pooled sizing rule fitted over its grid (docs/theory.md §3)."""
    return 2.71e-3 * target_params + 8.71e7


def parse_alpha_law(text: str) -> AlphaLaw:
    """An acceptance law from ``A,B,C`` or from a YAML/JSON file with keys ``a``, ``b``, ``c`` (as written by
    ``specplan calibrate``; other keys such as fit statistics are ignored)."""
    parts = text.split(",")
    if len(parts) == 3:
        try:
            a, b, c = (float(p) for p in parts)
        except ValueError:
            raise SpecplanError(f"--alpha-law {text!r}: expected three numbers A,B,C") from None
        return AlphaLaw(a, b, c, source="--alpha-law")
    path = Path(text)
    if not path.is_file():
        raise SpecplanError(f"--alpha-law {text!r} is neither A,B,C nor a readable file")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecplanError(f"--alpha-law file {text!r} could not be read: {exc}".splitlines()[0]) from None
    coefficients = data.get("coefficients", data) if isinstance(data, dict) else None
    if not isinstance(coefficients, dict):
        raise SpecplanError(f"--alpha-law file {text!r} must hold a mapping with keys a, b, c")
    values = []
    for key in ("a", "b", "c"):
        value = coefficients.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecplanError(f"--alpha-law file {text!r}: key {key!r} must be a number, got {value!r}")
        values.append(float(value))
    return AlphaLaw(*values, source=str(path))
