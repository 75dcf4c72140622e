"""Bad input files for the hardening tests (tests/cli/test_bad_inputs.py): each small, each wrong in one way.

``make_files(folder)`` writes them all; the table refers to them as ``{d}/NAME``.
"""

import json
from pathlib import Path

import yaml

from report_records import BASE, records, run_record

REPO = Path(__file__).resolve().parents[1]

# A "billion laughs" YAML: 1.3 KB that a naive loader expands to 10^9 list items.
ALIAS_BOMB = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


def _h100() -> dict:
    return yaml.safe_load((REPO / "profiles" / "h100-sxm.yaml").read_text())


def _measured(**coefficients) -> dict:
    base = {"step_overhead_s": 1e-4, "layer_overhead_s": 1e-5, "per_param_s": 1e-11, "per_param_token_s": 0.0,
            "layer_token_s": 0.0, "multi_token_per_param_s": [1e-12, 2e-12, 3e-12]}
    rows = [{"model": m, "params": p, "layers": 2, "width": 64, "vocab_size": 100, "new_tokens": k,
             "median_s": 0.01, "p10_s": 0.01, "p90_s": 0.01, "samples": 3, "predicted_s": 0.01, "error": 0.0}
            for m, p in (("20M", 2e7), ("80M", 8e7)) for k in (1, 2, 3, 4)]
    return {"name": "m", "kind": "measured", "dtype": "fp32", "aspect_ratio": 100.0,
            "coefficients": {**base, **coefficients}, "max_tokens": 4, "partial": False, "measurements": rows,
            "fit": {"points": len(rows), "max_abs_error": 0.0, "rms_error": 0.0}}


def _profile_variants() -> dict:
    """name -> YAML text of a profile with one bad value."""
    out = {}
    for key, value in (("step_overhead_us", ".nan"), ("step_overhead_us", ".inf"), ("layer_overhead_us", "-.inf"),
                       ("memory_bandwidth_gb_s", ".inf"), ("memory_bandwidth_gb_s", ".nan"),
                       ("memory_gb", ".inf"), ("bandwidth_efficiency", ".nan"), ("compute_efficiency", ".nan"),
                       ("memory_bandwidth_gb_s", "1e400"), ("memory_bandwidth_gb_s", "'fast'")):
        data = _h100()
        text = yaml.safe_dump(data).replace(f"{key}: {data[key]}", f"{key}: {value}")
        out[f"roof_{key}_{value.strip('.-').strip(chr(39))}.yaml"] = text
    data = _h100()
    data["peak_tflops"]["bf16"] = float("inf")
    out["roof_peak_inf.yaml"] = yaml.safe_dump(data)
    for name, coefficients in (("zero", dict(step_overhead_s=0.0, layer_overhead_s=0.0, per_param_s=0.0,
                                              multi_token_per_param_s=[0.0, 0.0, 0.0])),
                               ("huge", dict(per_param_s=1e300)),
                               ("nan", dict(per_param_s=float("nan"))),
                               ("negative", dict(per_param_s=-1e-11))):
        out[f"measured_{name}.yaml"] = yaml.safe_dump(_measured(**coefficients))
    one = _measured()
    one["measurements"] = [r for r in one["measurements"] if r["model"] == "20M"]
    out["measured_one_size.yaml"] = yaml.safe_dump(one)
    out["measured_ok.yaml"] = yaml.safe_dump(_measured())
    return out


def _record_variants() -> dict:
    """name -> list of records (JSONL) with one bad field."""
    good = records()
    sd = run_record(0, "sd", 3, [3, 3, 3, 3], [3, 1, 0, 2], 10, 1.0, True)

    def with_sd(**changes):
        return [r for r in good if not (r.get("engine") == "sd" and r["gamma"] == 3 and r["prompt_index"] == 0)] \
            + [{**sd, **changes}]

    return {
        "rec_gamma_str.jsonl": with_sd(gamma="2"),
        "rec_gamma_float.jsonl": with_sd(gamma=2.5),
        "rec_gamma_bool.jsonl": with_sd(gamma=True),
        "rec_pair_list.jsonl": with_sd(pair=["T", "D"]),
        "rec_pair_missing_draft.jsonl": with_sd(pair={"target": "T"}),
        "rec_wall_inf.jsonl": with_sd(wall_time_s="__INF__"),
        "rec_wall_nan.jsonl": with_sd(wall_time_s="__NAN__"),
        "rec_wall_str.jsonl": with_sd(wall_time_s="1.0"),
        "rec_wall_negative.jsonl": with_sd(wall_time_s=-1.0),
        "rec_tokens_huge.jsonl": with_sd(new_tokens="__HUGE__"),
        "rec_tokens_float.jsonl": with_sd(new_tokens=10.5),
        "rec_margin_str.jsonl": with_sd(exact=False, first_divergence=3, divergence_margin="big"),
        "rec_margin_nan.jsonl": with_sd(exact=False, first_divergence=3, divergence_margin="__NAN__"),
        "rec_exact_str.jsonl": with_sd(exact="no"),
        "rec_exact_int.jsonl": with_sd(exact=1),
        "rec_engine_int.jsonl": with_sd(engine=3),
        "rec_engine_list.jsonl": with_sd(engine=["sd"]),
        "rec_prompt_index_str.jsonl": with_sd(prompt_index="0"),
        "rec_repeat_float.jsonl": with_sd(repeat=0.5),
        "rec_rounds_str.jsonl": with_sd(rounds="3,3"),
        "rec_rounds_short.jsonl": with_sd(rounds={"drafted": [3, 3], "accepted": [3]}),
        "rec_rounds_over.jsonl": with_sd(rounds={"drafted": [1], "accepted": [2]}),
        "rec_rounds_negative.jsonl": with_sd(rounds={"drafted": [3, -1], "accepted": [3, 0]}),
        "rec_settings_list.jsonl": with_sd(settings=[1, 2]),
        "rec_temperature_str.jsonl": with_sd(settings={**BASE["settings"], "temperature": "hot"}),
        "rec_kind_int.jsonl": with_sd(kind=5),
        "rec_schema_new.jsonl": with_sd(schema_version=99),
        "rec_schema_str.jsonl": with_sd(schema_version="1"),
        "rec_median_inf.jsonl": good + [{**good[-1], "median_s": "__INF__"}],
        "rec_median_str.jsonl": good + [{**good[-1], "median_s": "fast"}],
        "rec_latency_model_list.jsonl": good + [{**good[-1], "model": ["draft"]}],
        "rec_latency_tokens_str.jsonl": good + [{**good[-1], "new_tokens": "1"}],
        "rec_ppl_str.jsonl": good + [{**BASE, "kind": "perplexity", "model": "target", "perplexity": "low",
                                      "tokens": 10, "text": "builtin"}],
        "rec_ppl_null.jsonl": good + [{**BASE, "kind": "perplexity", "model": "target", "perplexity": None,
                                       "tokens": 10, "text": "builtin"}],
        "rec_ppl_missing.jsonl": good + [{**BASE, "kind": "perplexity", "model": "target", "tokens": 10,
                                          "text": "builtin"}],
        "rec_ppl_nan.jsonl": good + [{**BASE, "kind": "perplexity", "model": "target", "perplexity": "__NAN__",
                                      "tokens": 10, "text": "builtin"}],
        "rec_ppl_below_one.jsonl": good + [{**BASE, "kind": "perplexity", "model": "target", "perplexity": 0.5,
                                            "tokens": 10, "text": "builtin"}],
        "rec_ok.jsonl": good,
        "cal_ok.jsonl": calibration_records(),
        "rec_ar_only.jsonl": [r for r in good if r.get("engine") == "ar"],
    }


def calibration_records() -> list:
    """Four pairs of one target with perplexities and γ = 1 rounds: enough for calibrate to fit α = A·x + C."""
    out = []
    for i, x in enumerate((8.0, 12.0, 16.0, 20.0)):
        common = {**BASE, "pair": {"target": "T", "draft": f"D{i}"}}
        accepted = round((0.8 - 0.01 * x) * 100)
        out.append({**common, "kind": "run", "engine": "sd", "gamma": 1, "prompt_index": 0, "repeat": 0,
                    "new_tokens": 100 + accepted, "wall_time_s": 1.0,
                    "rounds": {"drafted": [1] * 100, "accepted": [1] * accepted + [0] * (100 - accepted)}})
        out += [{**common, "kind": "perplexity", "model": model, "perplexity": ppl, "tokens": 1000,
                 "text": "builtin"} for model, ppl in (("target", 3.0), ("draft", x))]
    return out


def _dump(record: dict) -> str:
    return (json.dumps(record).replace('"__INF__"', "Infinity").replace('"__NAN__"', "NaN")
            .replace('"__HUGE__"', "1e400"))


def make_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nonutf8.yaml").write_bytes(b"name: \xff\xfe\xfa\n")
    (folder / "nonutf8.jsonl").write_bytes(b'{"schema_version": 1, "kind": "\xff"}\n')
    (folder / "nonutf8.txt").write_bytes(b"def f():\xff\xfe\n")
    (folder / "bomb.yaml").write_text(ALIAS_BOMB)
    (folder / "alias_small.yaml").write_text("x: &x 0.5\na: -0.0067\nb: 0.012971\nc: *x\n")
    (folder / "list.yaml").write_text("- 1\n- 2\n")
    (folder / "empty.yaml").write_text("")
    (folder / "broken.yaml").write_text("a: [1, 2\n")
    (folder / "python_tag.yaml").write_text("a: !!python/object/apply:os.system ['true']\nb: 0\nc: 0\n")
    for name, law in (("law_nan", {"a": float("nan"), "b": 0, "c": 0.5}),
                      ("law_inf", {"a": 0, "b": 0, "c": float("inf")}),
                      ("law_str", {"a": "x", "b": 0, "c": 0.5}),
                      ("law_missing", {"a": 0.0, "b": 0.0}),
                      ("law_high", {"a": 0.0, "b": 0.0, "c": 1.5}),
                      ("law_low", {"a": 0.0, "b": 0.0, "c": -0.5}),
                      ("law_bool", {"a": True, "b": 0.0, "c": 0.5}),
                      ("law_huge", {"a": 1e308, "b": 1e308, "c": 0.5})):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(law))
    for name, text in _profile_variants().items():
        (folder / name).write_text(text)
    for name, items in _record_variants().items():
        (folder / name).write_text("".join(_dump(r) + "\n" for r in items))
    (folder / "empty.jsonl").write_text("")
    (folder / "blank.jsonl").write_text("\n\n")
    (folder / "garbage.jsonl").write_text("this is not json\n")
    (folder / "array.jsonl").write_text("[1, 2, 3]\n")
    (folder / "truncated.jsonl").write_text((folder / "rec_ok.jsonl").read_text()[:-40])
    (folder / "config.json").write_text('{"model_type": "llama"}\n')
    (folder / "prompts.txt").write_text("def main():\n")
    (folder / "prompts_long.txt").write_text("x" * 40_000 + "\n")  # beyond a 1024-position context (×32)
    (folder / "prompts_huge.txt").write_text("x" * 1_000_001 + "\n")  # beyond any context: refused before loading
    (folder / "prompts_empty.txt").write_text("\n\n")
    (folder / "prompts.csv").write_text("prompt\nhello\n")
    (folder / "prompts_bad.jsonl").write_text('{"text": "no prompt key"}\n')
    (folder / "prompts_list.jsonl").write_text('["a"]\n')
    (folder / "prompts_num.jsonl").write_text('{"prompt": 5}\n')
    (folder / "empty.txt").write_text("")
    (folder / "blank.txt").write_text("   \n\n")
    (folder / "dir").mkdir(exist_ok=True)
    llama = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
             "vocab_size": 100, "intermediate_size": 10}
    for name, text in (("cfg_garbage", "{nope"), ("cfg_list", "[1, 2]"),
                       ("cfg_nan", json.dumps({**llama, "hidden_size": float("nan")})),
                       ("cfg_negative", json.dumps({**llama, "num_hidden_layers": -2})),
                       ("cfg_t5", json.dumps({"model_type": "t5", "is_encoder_decoder": True, "d_model": 32,
                                              "num_layers": 1, "num_heads": 2, "vocab_size": 100, "d_ff": 64,
                                              "d_kv": 16}))):
        (folder / name).mkdir(exist_ok=True)
        (folder / name / "config.json").write_text(text)
    (folder / "cfg_nonutf8").mkdir(exist_ok=True)
    (folder / "cfg_nonutf8" / "config.json").write_bytes(b'{"model_type": "\xff"}')
    for name, plan in (("plan_nan", {"alpha": "__NAN__", "cost_ratio": 0.1, "gamma": 3, "speedup": 2.0}),
                       ("plan_negative", {"alpha": 0.7, "cost_ratio": -0.1, "gamma": 3, "speedup": 2.0}),
                       ("plan_alpha_one", {"alpha": 1.0, "cost_ratio": 0.1, "gamma": 3, "speedup": 2.0}),
                       ("plan_gamma_str", {"alpha": 0.7, "cost_ratio": 0.1, "gamma": "three", "speedup": 2.0}),
                       ("plan_gamma_float", {"alpha": 0.7, "cost_ratio": 0.1, "gamma": 2.5, "speedup": 2.0}),
                       ("plan_inf", {"alpha": 0.7, "cost_ratio": 0.1, "gamma": 3, "speedup": "__INF__"}),
                       ("plan_missing", {"alpha": 0.7})):
        (folder / f"{name}.json").write_text(_dump({"recommendation": plan}))
    (folder / "plan_list.json").write_text("[1, 2]\n")
    return folder
