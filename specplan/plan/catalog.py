"""The bundled model catalog (``catalog.yaml``): checkpoints with their shape, exact parameters, training tokens,
embedding rows and tokenizer identity, each figure with its source. ``specplan models`` lists it; ``plan`` reads a
target or draft from it offline and draws its checkpoint recommendations from the target's family."""

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from specplan.plan.architecture import Architecture, from_config

FIGURES = ("config", "params", "tokens", "rows")  # every entry has a source for each


@dataclass(frozen=True)
class ModelInfo:
    """A model as plan uses it: its shape and, where known, what the catalog says about it."""

    name: str  # hub id or folder
    architecture: Architecture
    origin: str  # "catalog", "folder", "model cache", "hub"
    family: str | None = None
    tokenizer: str | None = None
    training_tokens: float | None = None
    variant: str | None = None  # "base" or "instruct"
    unverified: tuple = ()
    llamacpp_rejects: str | None = None

    def summary(self) -> dict:
        arch = self.architecture
        return {"name": self.name, "origin": self.origin, "family": self.family, "tokenizer": self.tokenizer,
                "params": arch.params_total, "active_params": arch.params_active, "layers": arch.layers,
                "hidden": arch.hidden, "heads": arch.heads, "kv_heads": arch.kv_heads,
                "embedding_rows": arch.vocab_rows, "tied": arch.tied, "experts": arch.experts,
                "training_tokens": self.training_tokens, "unverified": list(self.unverified)}


@dataclass(frozen=True)
class Entry:
    """One catalog model: its ids per variant and its figures (``params`` as stated, with sources)."""

    family: str
    ids: dict  # variant -> list of hub ids, the first canonical
    params: int
    active_params: int | None
    training_tokens: float | None
    config: dict
    sources: dict
    unverified: tuple
    family_info: dict

    @property
    def name(self) -> str:
        return (self.ids.get("instruct") or self.ids.get("base"))[0]

    def variant_of(self, hub_id: str) -> str | None:
        for variant, names in self.ids.items():
            if hub_id.lower() in (n.lower() for n in names):
                return variant
        return None

    def info(self, variant: str = "instruct", name: str | None = None) -> ModelInfo:
        """This entry as a model; ``variant`` picks the base or instruct id (the other when it has none)."""
        if not self.ids.get(variant):
            variant = "base" if self.ids.get("base") else "instruct"
        return ModelInfo(
            name=name or self.ids[variant][0], architecture=from_config(self.config, f"catalog entry {self.name}"),
            origin="catalog", family=self.family, tokenizer=self.family_info["tokenizer"],
            training_tokens=self.training_tokens, variant=variant, unverified=self.unverified,
            llamacpp_rejects=self.family_info.get("llamacpp_rejects"),
        )


def _load_yaml(text: str):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when PyYAML has it: plan starts faster
    return yaml.load(text, Loader=loader)


@lru_cache(maxsize=1)
def catalog() -> tuple:
    """Every catalog entry, in file order (families grouped, smallest first)."""
    data = _load_yaml(resources.files("specplan.plan").joinpath("catalog.yaml").read_text())
    families = data["families"]
    entries = []
    for item in data["models"]:
        family = families[item["family"]]
        entries.append(Entry(
            family=item["family"],
            ids={v: list(item.get(v) or []) for v in ("base", "instruct")},
            params=item["params"],
            active_params=item.get("active_params"),
            training_tokens=item.get("training_tokens"),
            config=item["config"],
            sources={**family["sources"], **item.get("sources", {})},
            unverified=tuple(sorted(set(family.get("unverified", [])) | set(item.get("unverified", [])))),
            family_info=family,
        ))
    return tuple(entries)


def families() -> dict:
    """Family name -> its description, tokenizer and sources."""
    return _load_yaml(resources.files("specplan.plan").joinpath("catalog.yaml").read_text())["families"]


def find(hub_id: str) -> Entry | None:
    """The entry that lists ``hub_id`` (case-insensitive) as one of its ids."""
    for entry in catalog():
        if entry.variant_of(hub_id):
            return entry
    return None


def family_members(family: str) -> list:
    return [entry for entry in catalog() if entry.family == family]
