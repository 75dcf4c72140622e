"""SDSL scaling laws: perplexity from model and data size, acceptance from perplexities (docs/theory.md §3).

Pure functions, no torch. Sources: Besiroglu et al. 2024 (arXiv 2404.10102) refit of the Chinchilla loss law;
Bozorgkhoo & Molybog 2026, SDSL (arXiv 2603.11053) acceptance law and pooled sizing rule.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from specplan.checks import is_finite_number, read_yaml_file, shown
from specplan.errors import SpecplanError

# Acceptance is clipped into (0, 1) so that the speculative formulas stay defined far outside the fit's range.
ALPHA_FLOOR = 1e-6
ALPHA_CEIL = 1.0 - 1e-6
# α is a probability and perplexities are ~1..1e3: a coefficient beyond this cannot describe acceptance.
MAX_LAW_COEFFICIENT = 1e6


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
    ``specplan calibrate``; other keys such as fit statistics are ignored). Every coefficient must be finite."""
    parts = text.split(",")
    if len(parts) == 3:
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise SpecplanError(f"--alpha-law {shown(text)}: expected three numbers A,B,C") from None
        source = "--alpha-law"
    else:
        path = Path(text)
        if not path.is_file():
            raise SpecplanError(f"--alpha-law {shown(text)} is neither A,B,C nor a readable file")
        data = read_yaml_file(path, "--alpha-law file")
        coefficients = data.get("coefficients", data) if isinstance(data, dict) else None
        if not isinstance(coefficients, dict):
            raise SpecplanError(f"--alpha-law file {text!r} must hold a mapping with keys a, b, c")
        values = [coefficients.get(key) for key in ("a", "b", "c")]
        for key, value in zip("abc", values):
            if not is_finite_number(value):
                raise SpecplanError(f"--alpha-law file {text!r}: key {key!r} must be a number (finite), "
                                    f"got {shown(value)}")
        source = str(path)
    for key, value in zip("abc", values):
        if not math.isfinite(value) or abs(value) > MAX_LAW_COEFFICIENT:
            raise SpecplanError(f"--alpha-law {shown(text)}: {key} = {value!r} must be a finite number within "
                                f"±{MAX_LAW_COEFFICIENT:g}")
    return AlphaLaw(*values, source=source)
