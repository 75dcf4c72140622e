"""The one reader of a model's ``config.json`` (plan, profile and bench all use it, before transformers sees it).

A config is read with a size cap (real ones are under 100 KB), parsed as JSON with numbers that fit and nesting
that stays shallow, and checked field by field: types (a positive integer is not 1.5, ``true`` or ``"4096"``),
ranges, and the relations between the fields the latency model and a transformers build rely on (KV heads divide
query heads; without ``head_dim`` the heads divide the width; ``num_experts_per_tok`` ≤ the experts). Each bad
field is one line naming the file, the field and its value. Plain json: no transformers.
"""

import json
from pathlib import Path

from specplan.checks import read_text_file, shown
from specplan.errors import SpecplanError, first_line

MAX_CONFIG_BYTES = 4_000_000  # real configs are < 100 KB; the largest (multimodal, per-layer lists) < 1 MB
MAX_DEPTH = 32  # nesting of objects and lists; real configs nest 3 or 4 deep
MAX_SIZE = 2**31 - 1  # any count or width: beyond it no tensor can be built
# Positive integer fields (when present and not null); the required ones are checked by the architecture reader.
POSITIVE_INT_FIELDS = ("hidden_size", "num_hidden_layers", "vocab_size", "num_attention_heads", "num_key_value_heads",
                       "head_dim", "intermediate_size", "moe_intermediate_size", "num_experts", "num_local_experts",
                       "num_experts_per_tok", "max_position_embeddings", "ffn_dim", "word_embed_proj_dim")
NON_NEGATIVE_INT_FIELDS = ("shared_expert_intermediate_size",)
BOOL_FIELDS = ("tie_word_embeddings", "attention_bias", "is_encoder_decoder", "is_decoder")


def read_config(path, where: str) -> dict:
    """The checked config at ``path`` (a ``config.json``), or one error line starting with ``where``."""
    text = read_text_file(path, f"{where}: config.json", max_bytes=MAX_CONFIG_BYTES)  # the cap before reading
    named = f"{where} ({path})"
    return check_config(parse_config(text, named), named)


def parse_config(text: str, where: str):
    """JSON text to Python values; nesting deeper than ``MAX_DEPTH`` and non-finite or overlong numbers refused."""
    depth = _max_depth(text)
    if depth > MAX_DEPTH:
        raise SpecplanError(f"{where}: nests {depth} levels deep, more than the {MAX_DEPTH} a config uses")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except SpecplanError as exc:
        raise SpecplanError(f"{where}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # also Python's cap on digits of one integer
        raise SpecplanError(f"{where}: config.json could not be read (not valid JSON: {first_line(exc, 120)})") \
            from None


def _max_depth(text: str) -> int:
    """How deep brackets nest outside strings (a cheap scan, so json's recursion never meets 100k brackets)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str):
    raise SpecplanError(f"holds {name}, not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise SpecplanError(f"holds the number {text[:40]}, too large for a float")
    return value


def text_fields(config: dict) -> dict:
    """The decoder's part of a config: multimodal configs nest it under ``text_config`` (keys missing there come
    from the top level: model_type, dtype, architectures)."""
    inner = config.get("text_config")
    if isinstance(inner, dict):
        return {**{k: v for k, v in config.items() if k != "text_config"}, **inner}
    return config


def check_config(config, where: str) -> dict:
    """``config`` itself when its fields are well typed and agree with each other; else one error line."""
    if not isinstance(config, dict):
        raise SpecplanError(f"{where}: config.json must hold a JSON object, not {type(config).__name__}")
    if "text_config" in config and config["text_config"] is not None and not isinstance(config["text_config"], dict):
        raise SpecplanError(f"{where}: config key 'text_config' {shown(config['text_config'])} must be an object")
    cfg = text_fields(config)
    for key in ("model_type",):
        if key in cfg and not isinstance(cfg[key], str):
            raise SpecplanError(f"{where}: config key {key!r} must be a string, got {shown(cfg[key])}")
    names = cfg.get("architectures")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise SpecplanError(f"{where}: config key 'architectures' {shown(names)} must be a list of class names")
    for key in POSITIVE_INT_FIELDS + NON_NEGATIVE_INT_FIELDS:
        _check_int(cfg, key, where, least=0 if key in NON_NEGATIVE_INT_FIELDS else 1)
    for key in BOOL_FIELDS:
        if cfg.get(key) is not None and not isinstance(cfg[key], bool):
            raise SpecplanError(f"{where}: config key {key!r} must be true or false, got {shown(cfg[key])}")
    _check_relations(cfg, where)
    return config


def _check_int(cfg: dict, key: str, where: str, least: int) -> None:
    value = cfg.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_SIZE:
        kind = "a positive integer" if least else "a non-negative integer"
        raise SpecplanError(f"{where}: config key {key!r} must be {kind} (at most {MAX_SIZE}), got {shown(value)}")


def _check_relations(cfg: dict, where: str) -> None:
    heads, kv_heads = cfg.get("num_attention_heads"), cfg.get("num_key_value_heads")
    if heads and kv_heads and heads % kv_heads:
        raise SpecplanError(f"{where}: config key 'num_key_value_heads' {kv_heads} must divide "
                            f"num_attention_heads {heads}")
    hidden = cfg.get("hidden_size")
    if heads and hidden and cfg.get("head_dim") is None and hidden % heads:
        raise SpecplanError(f"{where}: config key 'num_attention_heads' {heads} must divide hidden_size {hidden} "
                            "(or the config must give head_dim)")
    head_dim = cfg.get("head_dim") or (hidden // heads if heads and hidden else None)
    if head_dim and head_dim % 2:
        raise SpecplanError(f"{where}: config key 'head_dim' must be even (rotary embeddings turn pairs), got "
                            f"{head_dim}" + ("" if cfg.get("head_dim") else " (hidden_size / num_attention_heads)"))
    experts = cfg.get("num_experts") or cfg.get("num_local_experts")
    per_token = cfg.get("num_experts_per_tok")
    if experts and per_token and per_token > experts:
        raise SpecplanError(f"{where}: config key 'num_experts_per_tok' {per_token} must be at most the "
                            f"{experts} experts")


def folder_config(folder, where: str) -> dict | None:
    """The checked ``config.json`` of a local model folder; None when ``folder`` is not a local folder."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        return None
    if not (path / "config.json").is_file():
        raise SpecplanError(f"{where}: the folder has no config.json")
    return read_config(path / "config.json", where)
