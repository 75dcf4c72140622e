"""Loading the target/draft pair for ``bench``: where the models are, the tokenizer pre-flight, device and dtype.

The pre-flight reads only tokenizers and configs, so a mismatched pair fails in seconds, before any weights load.
torch and transformers are imported inside functions.
"""

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from specplan.errors import SpecplanError
from specplan.measure.engines.base import Workload

DEFAULT_PAIR_FOLDERS = ("toy-target", "toy-draft")  # in specplan/assets/, trained by the toy-pair script (issue #6)
DEFAULT_PAIR_NAMES = ("specplan/toy-target", "specplan/toy-draft")  # how records name the embedded pair
# The embedded pair knows only Python source: its default prompts and held-out text are held-out stdlib files.
DEFAULT_PAIR_TEXTS = ("toy-prompts.jsonl", "toy-heldout.txt")


@dataclass(frozen=True)
class ModelSource:
    """A model as the user named it (``name``, kept in records) and where it loads from (``location``)."""

    name: str
    location: str


def default_pair() -> tuple[ModelSource, ModelSource]:
    """The embedded toy pair in ``specplan/assets/``; a one-line error while it is not installed."""
    assets = resources.files("specplan") / "assets"
    sources = []
    for folder, name in zip(DEFAULT_PAIR_FOLDERS, DEFAULT_PAIR_NAMES):
        path = Path(str(assets / folder))
        if not (path / "config.json").is_file():
            raise SpecplanError(f"no --target/--draft given and the embedded default pair is not installed "
                                f"({path} has no config.json); pass --target and --draft")
        sources.append(ModelSource(name, str(path)))
    return sources[0], sources[1]


def default_pair_texts() -> tuple[str, str]:
    """(prompts file, held-out perplexity text) that suit the embedded pair: held-out Python standard library code."""
    assets = resources.files("specplan") / "assets"
    return tuple(str(assets / name) for name in DEFAULT_PAIR_TEXTS)


def model_source(option: str, value: str) -> ModelSource:
    """A local folder (must hold config.json) or a model-hub id ``org/name``, told apart by plan's rule
    (:func:`specplan.plan.model_source.is_hub_id`); a missing folder is a one-line error."""
    from specplan.checks import check_name
    from specplan.plan.model_source import is_hub_id

    check_name(value, option)
    if not value.strip():
        raise SpecplanError(f"{option} {value!r} is empty: give a model folder (with config.json) or a hub id")
    if is_hub_id(value):
        offline_unless_hub_reachable()
        return ModelSource(value, value)
    path = Path(value).expanduser()
    if not (path / "config.json").is_file():
        raise SpecplanError(f"{option} {value!r}: no model folder there (expected a folder with config.json)")
    return ModelSource(value, str(path))


def offline_unless_hub_reachable() -> bool:
    """Before a model-hub id is resolved: if the hub cannot be reached within a few seconds, switch the hub client
    to offline mode, so a cached model still loads and an uncached one fails at once with one line (instead of
    ~30 s of retries). Returns whether offline mode is on."""
    import os
    import sys

    from specplan.plan.model_source import hub_offline_set, hub_unreachable

    if hub_offline_set():
        return True
    if hub_unreachable() is None:
        return False
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: it read the variable at import
        constants.HF_HUB_OFFLINE = True
    return True


@dataclass(frozen=True)
class Preflight:
    """What the pair agrees on: logits are compared over the first ``vocab_tokens`` rows; ``notes`` explain
    harmless differences."""

    vocab_tokens: int
    notes: tuple = ()


def check_tokenizers(target_tok, draft_tok) -> None:
    """Both models must share one vocabulary and the same special tokens, or speculative decoding is meaningless."""
    target_vocab, draft_vocab = target_tok.get_vocab(), draft_tok.get_vocab()
    if target_vocab != draft_vocab:
        differing = len(set(target_vocab.items()) ^ set(draft_vocab.items()))
        raise SpecplanError(f"the tokenizers differ: target has {len(target_vocab)} tokens, draft {len(draft_vocab)}, "
                            f"{differing} (token, id) entries not shared; the draft must use the target's tokenizer")
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        if getattr(target_tok, name, None) != getattr(draft_tok, name, None):
            raise SpecplanError(f"the tokenizers' special tokens differ: {name} is {getattr(target_tok, name)} "
                                f"for the target and {getattr(draft_tok, name)} for the draft")


def check_vocab_rows(target_rows: int, draft_rows: int, tokenizer_tokens: int) -> Preflight:
    """Embedding rows beyond the tokenizer are padding (e.g. Qwen2 151936 vs 152064 rows, one tokenizer): allowed,
    explained, and logits are cut to the rows both have. A tokenizer larger than an embedding is a real mismatch."""
    if tokenizer_tokens > min(target_rows, draft_rows):
        raise SpecplanError(f"the tokenizer has {tokenizer_tokens} tokens but the embeddings have {target_rows} "
                            f"(target) and {draft_rows} (draft) rows: the models do not fit this tokenizer")
    notes = ()
    if target_rows != draft_rows:
        notes = (f"embedding rows differ (target {target_rows}, draft {draft_rows}) but both cover the tokenizer's "
                 f"{tokenizer_tokens} tokens: padding, harmless; logits are compared over the first "
                 f"{min(target_rows, draft_rows)} rows",)
    return Preflight(min(target_rows, draft_rows), notes)


@dataclass(frozen=True)
class LoadedPair:
    target: object
    draft: object
    tokenizer: object
    device: str  # where inputs go (the target's first device under --device-map auto)
    dtype: str  # fp32 | bf16 | fp16
    vocab_tokens: int
    notes: tuple = field(default_factory=tuple)


def check_config_file(model_id_or_path: str, option: str, name: str | None = None) -> None:
    """A local folder's config.json through plan's checked reader (types, sizes, relations, a causal LM), before
    transformers or huggingface_hub validate it their own way (a traceback) or build an encoder."""
    from specplan.plan.architecture import check_causal
    from specplan.plan.model_config import folder_config

    where = f"{option} {name or model_id_or_path!r}"
    config = folder_config(model_id_or_path, where)
    if config is not None:
        check_causal(config, where)


def check_causal_lm(config, option: str, name: str) -> None:
    """A decoder-only causal language model, or one line: an encoder (BERT), an encoder-decoder (T5, BART) or a
    model type transformers has no causal-LM class for cannot decode here."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    causal = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.model_type) or \
        (getattr(config, "auto_map", None) or {}).get("AutoModelForCausalLM")
    if not causal or getattr(config, "is_encoder_decoder", False) or \
            (_needs_decoder_flag(causal) and not getattr(config, "is_decoder", False)):
        kind = "an encoder-decoder" if getattr(config, "is_encoder_decoder", False) else \
            "an encoder" if causal else "not a causal language"
        raise SpecplanError(f"{option} {name!r} is a {config.model_type} model, {kind} model: bench needs a "
                            f"decoder-only causal LM (AutoModelForCausalLM)")


def _needs_decoder_flag(class_name: str) -> bool:
    """Encoder families (BERT, RoBERTa, ...) have a causal-LM head only when configured ``is_decoder``."""
    import inspect

    import transformers

    model_class = getattr(transformers, class_name, None) if isinstance(class_name, str) else None
    try:
        return model_class is not None and "is_decoder" in inspect.getsource(model_class.__init__)
    except (OSError, TypeError):
        return False


def check_positions(config, option: str, workload: Workload) -> None:
    """The longest sequence of the run must fit the model's positions (``max_position_embeddings``): beyond them
    a model runs on and produces garbage that would be measured as if it were real."""
    limit = getattr(config.get_text_config(), "max_position_embeddings", None)
    if limit and workload.positions > limit:
        raise SpecplanError(f"{workload.why} = {workload.positions} positions exceed the {option.lstrip('-')}'s "
                            f"max_position_embeddings ({limit}) by {workload.positions - limit}; use shorter prompts, "
                            f"fewer --max-new-tokens or a smaller --gamma / --context-tokens")


def check_workload(configs: dict, workload: Workload) -> None:
    """Every pre-flight check of the configs against the run: positions, and each engine's refusals (a cache it
    cannot roll back)."""
    from specplan.measure.engines import registry

    for option, config in configs.items():
        check_positions(config, option, workload)
        refusal = registry.refusal(workload.engines, config, option.lstrip("-"), workload.compile)
        if refusal:
            raise SpecplanError(refusal)


def preflight(target: ModelSource, draft: ModelSource, trust_remote_code: bool, workload=None):
    """Tokenizers and configs only (cheap): the shared tokenizer and the :class:`Preflight` verdict. With a
    ``workload`` (a function of the tokenizer and the target's config giving a :class:`Workload`), its checks too."""
    from transformers import AutoConfig, AutoTokenizer

    for option, source in (("--target", target), ("--draft", draft)):
        check_config_file(source.location, option, source.name)
    configs = {option: _load(AutoConfig, option, source, trust_remote_code)
               for option, source in (("--target", target), ("--draft", draft))}
    for (option, config), source in zip(configs.items(), (target, draft)):
        check_causal_lm(config, option, source.name)
    target_tok = _load(AutoTokenizer, "--target", target, trust_remote_code)
    draft_tok = _load(AutoTokenizer, "--draft", draft, trust_remote_code)
    check_tokenizers(target_tok, draft_tok)
    if workload is not None:
        check_workload(configs, workload(target_tok, configs["--target"]))
    rows = [config.get_text_config().vocab_size for config in configs.values()]
    return target_tok, check_vocab_rows(rows[0], rows[1], len(target_tok))


def load_pair(target: ModelSource, draft: ModelSource, device: str, dtype: str | None,
              device_map: str | None = None, trust_remote_code: bool = False, workload=None) -> LoadedPair:
    """Pre-flight (with ``workload``'s checks, see :func:`preflight`), then both models in eval mode: the draft on
    ``device``, the target there or spread by accelerate with ``device_map='auto'`` (a target larger than one
    GPU). A checkpoint that holds less than half of its model's weights is refused (it would run as random)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    from specplan.measure.devices import resolve_dtype

    logging.set_verbosity_error()  # transformers' chatter and its own bars would break our progress bar
    logging.disable_progress_bar()
    tokenizer, checked = preflight(target, draft, trust_remote_code, workload)
    dtype, torch_dtype = resolve_dtype(dtype, device)  # None: the device's default
    target_model = _load(AutoModelForCausalLM, "--target", target, trust_remote_code, dtype=torch_dtype,
                         device_map=device_map or device)
    draft_model = _load(AutoModelForCausalLM, "--draft", draft, trust_remote_code, dtype=torch_dtype,
                        device_map=device)
    return LoadedPair(target_model.eval(), draft_model.eval(), tokenizer, str(target_model.device), dtype,
                      checked.vocab_tokens, checked.notes)


MIN_LOADED_SHARE = 0.5  # of a model's weight tensors a checkpoint must hold


def check_loaded(model, missing: list, option: str, name: str) -> None:
    """Refuse a checkpoint that left most of the model's tensors at their random initialisation."""
    total = len(model.state_dict())
    if total and len(missing) > (1 - MIN_LOADED_SHARE) * total:
        raise SpecplanError(f"{option} {name!r}: the checkpoint holds {total - len(missing)} of the model's {total} "
                            f"weight tensors (e.g. {sorted(missing)[0]!r} is missing); it is not a checkpoint of "
                            f"this architecture, and the rest would be random")


def _load(auto_class, option: str, source: ModelSource, trust_remote_code: bool, **kwargs):
    """``auto_class.from_pretrained`` with safetensors where the folder has them, else a pickle checkpoint loaded
    with ``weights_only`` (tensors only: a pickle that would run code is refused); errors in one line. A model is
    checked to have loaded most of its weights (:func:`check_loaded`)."""
    if any(Path(source.location).glob("*.safetensors")):
        kwargs["use_safetensors"] = True
    elif "dtype" in kwargs:  # a model (not a tokenizer or config) from a pickle checkpoint: tensors only
        kwargs["weights_only"] = True
    is_model = auto_class.__name__.startswith("AutoModel")
    try:
        loaded = auto_class.from_pretrained(source.location, trust_remote_code=trust_remote_code,
                                            **({"output_loading_info": True} if is_model else {}), **kwargs)
    except _loading_errors() as exc:
        text = " ".join(str(exc).split())
        first_line = text[:300] if text else type(exc).__name__
        raise SpecplanError(f"{option} {source.name!r} could not be loaded: {first_line}") from None
    if not is_model:
        return loaded
    model, info = loaded
    check_loaded(model, list(info.get("missing_keys", ())), option, source.name)
    return model


def _loading_errors() -> tuple:
    """What a broken model folder raises while loading: a missing or malformed file, a truncated or garbage
    safetensors file, a pickle that is not plain tensors, tensors of the wrong shape."""
    import pickle

    errors = [OSError, ValueError, KeyError, EOFError, RuntimeError, pickle.UnpicklingError]
    try:
        from safetensors import SafetensorError

        errors.append(SafetensorError)
    except ImportError:
        pass
    return tuple(errors)
