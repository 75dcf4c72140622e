"""``--alpha-from FILE``: α from an acceptance record (``kind: "acceptance"``, written by ``specplan acceptance``;
docs/records.md): its ``results[]``, one per temperature and rule (``lossless``, ``argmax_draft``, and at T = 0
``greedy``, which both rules reduce to), each with ``alpha`` (the i.i.d. α with the measured tokens per round) and
``tokens_per_round`` (γ → E). plan takes the result of its rule at the temperature nearest its own. Pure: JSON
only. The file is a records file (JSON lines; the last acceptance record is read) or ``acceptance --json``'s
object.
"""

import json
import math
from pathlib import Path

from specplan.checks import read_text_file
from specplan.errors import SpecplanError
from specplan.plan.given_acceptance import GivenAlpha

MAX_BYTES = 64 << 20


def load(path: str) -> dict:
    """The acceptance record in ``path`` (the last one of a records file); a one-line error otherwise."""
    text = read_text_file(path, "--alpha-from", MAX_BYTES)
    records = []
    try:
        whole = json.loads(text)
        records = [whole] if isinstance(whole, dict) else []
    except json.JSONDecodeError:
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    raise SpecplanError(f"--alpha-from {path}: line {number} is not JSON") from None
    found = [r for r in records if isinstance(r, dict) and isinstance(r.get("results"), list)
             and r.get("kind", "acceptance") == "acceptance"]
    if not found:
        raise SpecplanError(f"--alpha-from {path}: no acceptance record (kind \"acceptance\" with results[]) in it")
    return found[-1]


def _result_ok(result) -> bool:
    alpha, temperature = result.get("alpha"), result.get("temperature")
    return (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha)
            and 0 < alpha < 1 and isinstance(temperature, (int, float)) and math.isfinite(temperature)
            and temperature >= 0 and isinstance(result.get("rule"), str))


def choose(record: dict, temperature: float, rule: str, where: str) -> tuple:
    """(result, notes): the result of ``rule`` (``greedy`` counts for both rules at T = 0) at the temperature
    nearest ``temperature``."""
    results = [r for r in record["results"] if isinstance(r, dict)]
    bad = [r for r in results if not _result_ok(r)]
    if bad:
        raise SpecplanError(f"--alpha-from {where}: a result without a finite alpha in (0, 1), temperature ≥ 0 and "
                            f"rule: {json.dumps(bad[0])[:120]}")
    usable = [r for r in results if r["rule"] == rule or (r["rule"] == "greedy" and r["temperature"] == 0)
              or (temperature == 0 and r["temperature"] == 0)]
    if not usable:
        rules = sorted({r["rule"] for r in results})
        raise SpecplanError(f"--alpha-from {where}: no result for the {rule} rule (the record has "
                            f"{', '.join(rules) or 'none'})")
    best = min(usable, key=lambda r: (abs(r["temperature"] - temperature), r["rule"] != rule))
    notes = []
    if best["temperature"] != temperature:
        notes.append(f"--alpha-from {where}: no result at T {temperature:g}; the nearest, T {best['temperature']:g}, "
                     "is used")
    return best, notes


def given_alpha(path: str, temperature: float, rule: str) -> tuple:
    """(GivenAlpha, pair {target, draft} or {}, notes) from the record in ``path``."""
    record = load(path)
    name = Path(path).name
    result, notes = choose(record, temperature, rule, name)
    pair = record.get("pair") if isinstance(record.get("pair"), dict) else {}
    draft = f", draft {pair['draft']}" if isinstance(pair.get("draft"), str) else ""
    source = f"acceptance record {name} (T {result['temperature']:g}, {result['rule']}{draft})"
    return GivenAlpha(float(result["alpha"]), source, "--alpha-from"), pair, notes
