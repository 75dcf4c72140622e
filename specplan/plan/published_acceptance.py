"""The bundled table of published acceptance for real draft-model pairs (``plan/published_acceptance.yaml``):
each figure as its source printed it, its definition, and the i.i.d. α it converts to (docs/metrics.md)."""

from dataclasses import dataclass
from importlib import resources

from specplan.checks import load_yaml
from specplan.errors import SpecplanError
from specplan.plan.acceptance_math import alpha_from_acceptance_length, alpha_from_draft_acceptance_rate

DEFINITIONS = ("alpha", "acceptance_length", "draft_acceptance_rate")
READ = ("source", "carried")


@dataclass(frozen=True)
class PublishedAcceptance:
    """One published measurement of a pair's acceptance."""

    target: str
    draft: str
    engine: str
    task: str
    temperature: float | None  # None: not stated by the source
    gamma: int | None  # None: the draft length varied per round
    figure: float
    definition: str  # one of DEFINITIONS
    source: str
    where: str
    read: str  # one of READ
    note: str = ""
    family: str | None = None  # catalog family of both models (or the paper's, e.g. t5); None: not known
    target_params: float | None = None  # for the law's α at this entry (a family's offset); None: not given
    draft_params: float | None = None
    target_tokens: float | None = None  # training tokens; None: plan's defaults
    draft_tokens: float | None = None

    @property
    def alpha(self) -> float | None:
        """The i.i.d. α with the same figure: as published for α, through AL(α, γ) or E[DAR](α, γ) otherwise;
        None where γ varied (no single γ to convert at)."""
        if self.definition == "alpha":
            return self.figure
        if self.gamma is None:
            return None
        if self.definition == "acceptance_length":
            return float(alpha_from_acceptance_length(self.figure, self.gamma))
        return float(alpha_from_draft_acceptance_rate(self.figure, self.gamma))


def _entry(raw: dict, where: str) -> PublishedAcceptance:
    try:
        entry = PublishedAcceptance(**raw)
    except TypeError as exc:
        raise SpecplanError(f"{where}: {exc}") from None
    if entry.definition not in DEFINITIONS or entry.read not in READ:
        raise SpecplanError(f"{where}: definition must be one of {DEFINITIONS}, read one of {READ}")
    high = (entry.gamma or 0) + 1 if entry.definition == "acceptance_length" else 1.0
    low = 1.0 if entry.definition == "acceptance_length" else 0.0
    if not (low <= entry.figure <= high) or not entry.source or not entry.where:
        raise SpecplanError(f"{where}: figure {entry.figure} outside [{low}, {high}] or no source")
    return entry


def load_published_acceptance(text: str | None = None) -> tuple:
    """Every entry of the bundled table (or of ``text``, the same YAML schema)."""
    if text is None:
        text = (resources.files("specplan.plan") / "published_acceptance.yaml").read_text(encoding="utf-8")
    data = load_yaml(text, "published_acceptance.yaml")
    return tuple(_entry(raw, f"published_acceptance.yaml entry {i}") for i, raw in enumerate(data["entries"]))
