"""Every bad input ends in one line on stderr that names the bad value, exit code 2, and no traceback.

One table across all commands. Most cases run in-process (typer's CliRunner, milliseconds each); the measuring
commands fail before any model loads, or on the tiny model folders of tests/bench_fixtures.py.
``{d}`` in an argument is the folder of bad files written by tests/bad_inputs.py.
"""

import re

import pytest
from typer.testing import CliRunner

from bad_inputs import make_files
from specplan.cli import app

P = ["plan", "--target-params", "70B"]
R = ["report", "{d}/rec_ok.jsonl"]
C = ["calibrate"]
B = ["bench", "--num-prompts", "1", "--max-new-tokens", "2", "--gamma", "1", "--latency-samples", "2"]
F = ["profile", "--device", "cpu", "--sizes", "0.3M", "--repeats", "1", "--warmup", "0", "--max-tokens", "1",
     "--context", "8", "-o", "{d}/out/p.yaml"]

PROGRESS = re.compile(r"^\[\d+/[\d?]+\] ")  # progress lines (stderr is not a terminal here), not error output

# (args, text the error line must contain)
PLAN = [
    (["plan"], "--target-params"),
    (["plan", "--target-params", "nan"], "nan"),
    (["plan", "--target-params", "inf"], "inf"),
    (["plan", "--target-params", "-1"], "-1"),
    (["plan", "--target-params", "0"], "0"),
    (["plan", "--target-params", "abc"], "abc"),
    (["plan", "--target-params", "1e400"], "1e400"),
    (["plan", "--target-params", ""], "''"),
    (["plan", "--target-params", "70X"], "70X"),
    (["plan", "--target-params", "1M"], "1e+06"),
    (["plan", "--target-params", "1e30"], "1e+30"),
    ([*P, "--target-tokens", "nan"], "nan"),
    ([*P, "--target-tokens", "inf"], "inf"),
    ([*P, "--target-tokens", "1"], "--target-tokens"),
    ([*P, "--draft-tokens", "nan"], "nan"),
    ([*P, "--draft-tokens", "1"], "--draft-tokens"),
    ([*P, "--draft-tokens", "0"], "0"),
    ([*P, "--draft-params", "nan"], "nan"),
    ([*P, "--draft-params", "80B"], "8e+10"),
    ([*P, "--draft-params", "1"], "--draft-params"),
    ([*P, "--draft-params", "1B", "--alpha", "nan"], "nan"),
    ([*P, "--draft-params", "1B", "--alpha", "inf"], "inf"),
    ([*P, "--draft-params", "1B", "--alpha", "0"], "0"),
    ([*P, "--draft-params", "1B", "--alpha", "1"], "1"),
    ([*P, "--draft-params", "1B", "--alpha", "-0.5"], "-0.5"),
    ([*P, "--draft-params", "1B", "--alpha", "1.5"], "1.5"),
    ([*P, "--draft-params", "1B", "--alpha", "x"], "x"),
    ([*P, "--alpha", "0.7"], "--alpha"),
    ([*P, "--alpha-law", "nan,nan,nan"], "nan"),
    ([*P, "--alpha-law", "inf,0,0"], "inf"),
    ([*P, "--alpha-law", "0,0,1.5"], "1.5"),
    ([*P, "--alpha-law", "0,0,-1"], "-1"),
    ([*P, "--alpha-law", "0,0,1"], "c=1"),
    ([*P, "--alpha-law", "1,2"], "1,2"),
    ([*P, "--alpha-law", "a,b,c"], "a,b,c"),
    ([*P, "--alpha-law", "1e400,0,0.5"], "1e400"),
    ([*P, "--alpha-law", ""], "--alpha-law"),
    ([*P, "--alpha-law", "{d}/missing.yaml"], "missing.yaml"),
    ([*P, "--alpha-law", "{d}/nonutf8.yaml"], "nonutf8.yaml"),
    ([*P, "--alpha-law", "{d}/bomb.yaml"], "bomb.yaml"),
    ([*P, "--alpha-law", "{d}/alias_small.yaml"], "alias"),
    ([*P, "--alpha-law", "{d}/list.yaml"], "list.yaml"),
    ([*P, "--alpha-law", "{d}/empty.yaml"], "empty.yaml"),
    ([*P, "--alpha-law", "{d}/broken.yaml"], "broken.yaml"),
    ([*P, "--alpha-law", "{d}/python_tag.yaml"], "python_tag.yaml"),
    ([*P, "--alpha-law", "{d}/law_nan.yaml"], "nan"),
    ([*P, "--alpha-law", "{d}/law_inf.yaml"], "inf"),
    ([*P, "--alpha-law", "{d}/law_str.yaml"], "'x'"),
    ([*P, "--alpha-law", "{d}/law_missing.yaml"], "'c'"),
    ([*P, "--alpha-law", "{d}/law_high.yaml"], "1.5"),
    ([*P, "--alpha-law", "{d}/law_low.yaml"], "-0.5"),
    ([*P, "--alpha-law", "{d}/law_bool.yaml"], "True"),
    ([*P, "--alpha-law", "{d}/law_huge.yaml"], "law_huge.yaml"),
    ([*P, "--alpha-law", "{d}/dir"], "dir"),
    ([*P, "--gamma-max", "0"], "0"),
    ([*P, "--gamma-max", "-3"], "-3"),
    ([*P, "--gamma-max", "1e20"], "1e20"),
    ([*P, "--gamma-max", "2000000"], "2000000"),
    ([*P, "--gamma-max", "99999999999999999999999"], "99999999999999999999999"),
    ([*P, "--batch-size", "0"], "0"),
    ([*P, "--batch-size", "100000000000"], "100000000000"),
    ([*P, "--context-tokens", "-1"], "-1"),
    ([*P, "--context-tokens", "100000000000000"], "100000000000000"),
    ([*P, "--aspect-ratio", "nan"], "nan"),
    ([*P, "--aspect-ratio", "inf"], "inf"),
    ([*P, "--aspect-ratio", "0"], "0"),
    ([*P, "--aspect-ratio", "1e-300"], "1e-300"),
    ([*P, "--cost-model", "magic"], "magic"),
    ([*P, "--dtype", "fp7"], "fp7"),
    ([*P, "--profile", "no-such-gpu"], "no-such-gpu"),
    ([*P, "--profile", "{d}/missing.yaml"], "missing.yaml"),
    ([*P, "--profile", "{d}/nonutf8.yaml"], "nonutf8.yaml"),
    ([*P, "--profile", "{d}/bomb.yaml"], "bomb.yaml"),
    ([*P, "--profile", "{d}/list.yaml"], "list"),
    ([*P, "--profile", "{d}/empty.yaml"], "empty.yaml"),
    ([*P, "--profile", "{d}/broken.yaml"], "broken.yaml"),
    ([*P, "--profile", "{d}/python_tag.yaml"], "python_tag.yaml"),
    ([*P, "--profile", "{d}/dir"], "dir"),
    ([*P, "--profile", "{d}/roof_step_overhead_us_nan.yaml"], "nan"),
    ([*P, "--profile", "{d}/roof_step_overhead_us_inf.yaml"], "inf"),
    ([*P, "--profile", "{d}/roof_layer_overhead_us_inf.yaml"], "inf"),
    ([*P, "--profile", "{d}/roof_memory_bandwidth_gb_s_inf.yaml"], "inf"),
    ([*P, "--profile", "{d}/roof_memory_bandwidth_gb_s_nan.yaml"], "nan"),
    ([*P, "--profile", "{d}/roof_memory_gb_inf.yaml"], "inf"),
    ([*P, "--profile", "{d}/roof_bandwidth_efficiency_nan.yaml"], "nan"),
    ([*P, "--profile", "{d}/roof_compute_efficiency_nan.yaml"], "nan"),
    ([*P, "--profile", "{d}/roof_memory_bandwidth_gb_s_1e400.yaml"], "1e400"),
    ([*P, "--profile", "{d}/roof_memory_bandwidth_gb_s_fast.yaml"], "fast"),
    ([*P, "--profile", "{d}/roof_peak_inf.yaml"], "inf"),
    ([*P, "--profile", "{d}/measured_zero.yaml"], "zero"),
    ([*P, "--profile", "{d}/measured_huge.yaml"], "1e+300"),
    ([*P, "--profile", "{d}/measured_nan.yaml"], "nan"),
    ([*P, "--profile", "{d}/measured_negative.yaml"], "-1e-11"),
    ([*P, "--profile", "{d}/measured_one_size.yaml"], "one model size"),
    ([*P, "--profile", "{d}/measured_ok.yaml", "--dtype", "bf16"], "bf16"),
    ([*P, "--unknown-option"], "--unknown-option"),
    ([*P, "--tensor-parallel", "0"], "0"),
    ([*P, "--tensor-parallel", "1000"], "1000"),
    ([*P, "--draft-tensor-parallel", "-1"], "-1"),
    ([*P, "--emit", "xx"], "xx"),
    ([*P, "--draft", "{d}/missing"], "missing"),
    (["plan", "--target", "{d}/missing"], "missing"),
    (["plan", "--target", "{d}/cfg_garbage"], "cfg_garbage"),
    (["plan", "--target", "{d}/cfg_list"], "cfg_list"),
    (["plan", "--target", "{d}/cfg_nan"], "nan"),
    (["plan", "--target", "{d}/cfg_negative"], "-2"),
    (["plan", "--target", "{d}/cfg_t5"], "encoder-decoder"),
    (["plan", "--target", "{d}/cfg_nonutf8"], "cfg_nonutf8"),
    (["plan", "--target", "{d}/cfg_garbage", "--target-params", "7B"], "one of them"),
]

REPORT = [
    (["report"], "RECORDS"),
    (["report", "{d}/missing.jsonl"], "missing.jsonl"),
    (["report", "{d}/dir"], "dir"),
    (["report", "{d}/nonutf8.jsonl"], "nonutf8.jsonl"),
    (["report", "{d}/empty.jsonl"], "empty.jsonl"),
    (["report", "{d}/blank.jsonl"], "blank.jsonl"),
    (["report", "{d}/garbage.jsonl"], "garbage.jsonl:1"),
    (["report", "{d}/array.jsonl"], "array.jsonl:1"),
    (["report", "{d}/truncated.jsonl"], "truncated.jsonl"),
    (["report", "{d}/config.json"], "config.json"),
    (["report", "{d}/rec_ar_only.jsonl"], "rec_ar_only.jsonl"),
    (["report", "{d}/rec_gamma_str.jsonl"], "gamma '2'"),
    (["report", "{d}/rec_gamma_float.jsonl"], "gamma 2.5"),
    (["report", "{d}/rec_gamma_bool.jsonl"], "gamma True"),
    (["report", "{d}/rec_pair_list.jsonl"], "pair ['T', 'D']"),
    (["report", "{d}/rec_pair_missing_draft.jsonl"], "pair"),
    (["report", "{d}/rec_wall_inf.jsonl"], "wall_time_s inf"),
    (["report", "{d}/rec_wall_nan.jsonl"], "wall_time_s nan"),
    (["report", "{d}/rec_wall_str.jsonl"], "wall_time_s '1.0'"),
    (["report", "{d}/rec_wall_negative.jsonl"], "wall_time_s -1.0"),
    (["report", "{d}/rec_tokens_huge.jsonl"], "new_tokens inf"),
    (["report", "{d}/rec_tokens_float.jsonl"], "new_tokens 10.5"),
    (["report", "{d}/rec_margin_str.jsonl"], "divergence_margin 'big'"),
    (["report", "{d}/rec_margin_nan.jsonl"], "divergence_margin nan"),
    (["report", "{d}/rec_exact_str.jsonl"], "exact 'no'"),
    (["report", "{d}/rec_exact_int.jsonl"], "exact 1"),
    (["report", "{d}/rec_engine_int.jsonl"], "engine 3"),
    (["report", "{d}/rec_engine_list.jsonl"], "engine ['sd']"),
    (["report", "{d}/rec_prompt_index_str.jsonl"], "prompt_index '0'"),
    (["report", "{d}/rec_repeat_float.jsonl"], "repeat 0.5"),
    (["report", "{d}/rec_rounds_str.jsonl"], "rounds"),
    (["report", "{d}/rec_rounds_short.jsonl"], "rounds"),
    (["report", "{d}/rec_rounds_over.jsonl"], "rounds"),
    (["report", "{d}/rec_rounds_negative.jsonl"], "rounds"),
    (["report", "{d}/rec_settings_list.jsonl"], "settings [1, 2]"),
    (["report", "{d}/rec_temperature_str.jsonl"], "'hot'"),
    (["report", "{d}/rec_kind_int.jsonl"], "kind 5"),
    (["report", "{d}/rec_schema_new.jsonl"], "schema_version 99"),
    (["report", "{d}/rec_schema_str.jsonl"], "'1'"),
    (["report", "{d}/rec_median_inf.jsonl"], "median_s inf"),
    (["report", "{d}/rec_median_str.jsonl"], "median_s 'fast'"),
    (["report", "{d}/rec_latency_model_list.jsonl"], "model ['draft']"),
    (["report", "{d}/rec_latency_tokens_str.jsonl"], "new_tokens '1'"),
    (["report", "{d}/rec_ppl_str.jsonl"], "perplexity 'low'"),
    ([*R, "--by", "model"], "model"),
    ([*R, "--format", "xml"], "xml"),
    ([*R, "--plan", "{d}/missing.json"], "missing.json"),
    ([*R, "--plan", "{d}/nonutf8.yaml"], "nonutf8.yaml"),
    ([*R, "--plan", "{d}/plan_nan.json"], "nan"),
    ([*R, "--plan", "{d}/plan_negative.json"], "-0.1"),
    ([*R, "--plan", "{d}/plan_alpha_one.json"], "1.0"),
    ([*R, "--plan", "{d}/plan_gamma_str.json"], "three"),
    ([*R, "--plan", "{d}/plan_gamma_float.json"], "2.5"),
    ([*R, "--plan", "{d}/plan_inf.json"], "inf"),
    ([*R, "--plan", "{d}/plan_missing.json"], "plan_missing.json"),
    ([*R, "--plan", "{d}/plan_list.json"], "plan_list.json"),
    ([*R, "--plan", "{d}/rec_ok.jsonl"], "rec_ok.jsonl"),
    ([*R, "--min-speedup", "nan"], "nan"),
    ([*R, "--min-speedup", "inf"], "inf"),
    ([*R, "--min-speedup", "-1"], "-1"),
    ([*R, "--min-speedup", "fast"], "fast"),
    ([*R, "--min-acceptance-length", "nan"], "nan"),
    ([*R, "--min-acceptance-rate", "2"], "2"),
    ([*R, "--min-acceptance-rate", "nan"], "nan"),
    ([*R, "--max-regression", "5%"], "--baseline"),
    ([*R, "--baseline", "{d}/rec_ok.jsonl", "--max-regression", "abc"], "abc"),
    ([*R, "--baseline", "{d}/rec_ok.jsonl", "--max-regression", "150%"], "150%"),
    ([*R, "--baseline", "{d}/rec_ok.jsonl", "--max-regression", "nan"], "nan"),
    ([*R, "--baseline", "{d}/rec_ok.jsonl", "--max-regression", "-5%"], "-5%"),
    ([*R, "--baseline", "{d}/missing.jsonl"], "missing.jsonl"),
    ([*R, "--baseline", "{d}/garbage.jsonl"], "garbage.jsonl:1"),
    ([*R, "--baseline", "{d}/rec_wall_inf.jsonl"], "wall_time_s inf"),
    ([*R, "--format", "md", "--output", "/dev/full"], "/dev/full"),
    ([*R, "--format", "json", "--output", "{d}/rec_ok.jsonl/x.json"], "x.json"),
    ([*R, "--format", "json", "--output", "{d}/dir"], "dir"),
    ([*R, "--plot", "{d}/dir"], "dir"),
    ([*R, "--gamma", "x"], "x"),
    ([*R, "--engine", "zz"], "zz"),
]

CALIBRATE = [
    (["calibrate"], "RECORDS"),
    ([*C, "{d}/missing.jsonl"], "missing.jsonl"),
    ([*C, "{d}/nonutf8.jsonl"], "nonutf8.jsonl"),
    ([*C, "{d}/empty.jsonl"], "empty.jsonl"),
    ([*C, "{d}/garbage.jsonl"], "garbage.jsonl:1"),
    ([*C, "{d}/rec_ppl_str.jsonl"], "perplexity 'low'"),
    ([*C, "{d}/rec_ppl_null.jsonl"], "perplexity None"),
    ([*C, "{d}/rec_ppl_missing.jsonl"], "perplexity"),
    ([*C, "{d}/rec_ppl_nan.jsonl"], "perplexity nan"),
    ([*C, "{d}/rec_ppl_below_one.jsonl"], "perplexity 0.5"),
    ([*C, "{d}/rec_rounds_over.jsonl"], "rounds"),
    ([*C, "{d}/cal_ok.jsonl", "--engine", "xx"], "xx"),
    ([*C, "{d}/cal_ok.jsonl", "--temperature", "nan"], "nan"),
    ([*C, "{d}/cal_ok.jsonl", "--temperature", "-1"], "-1"),
    ([*C, "{d}/cal_ok.jsonl", "--temperature", "inf"], "inf"),
    ([*C, "{d}/cal_ok.jsonl", "--temperature", "0.7"], "0.7"),
    ([*C, "{d}/rec_ok.jsonl"], "perplexity"),
    ([*C, "{d}/cal_ok.jsonl", "-o", "/dev/full"], "/dev/full"),
    ([*C, "{d}/cal_ok.jsonl", "-o", "{d}/dir"], "dir"),
    ([*C, "{d}/cal_ok.jsonl", "-o", "{d}/rec_ok.jsonl/law.yaml"], "law.yaml"),
]

BENCH = [
    ([*B, "--target", "{d}/dir"], "--draft"),
    ([*B, "--resume"], "--resume"),
    ([*B, "--gamma", "a"], "'a'"),
    ([*B, "--gamma", "0"], "'0'"),
    ([*B, "--gamma", "2.5"], "2.5"),
    ([*B, "--gamma", ""], "--gamma"),
    ([*B, "--gamma", "1000000"], "1000000"),
    ([*B, "--engines", "xx"], "xx"),
    ([*B, "--engines", ""], "--engines"),
    ([*B, "--max-new-tokens", "0"], "0"),
    ([*B, "--max-new-tokens", "1000000000"], "1000000000"),
    ([*B, "--temperature", "nan"], "nan"),
    ([*B, "--temperature", "inf"], "inf"),
    ([*B, "--temperature", "-1"], "-1"),
    ([*B, "--top-p", "0"], "0"),
    ([*B, "--top-p", "nan"], "nan"),
    ([*B, "--top-p", "2"], "2"),
    ([*B, "--seed", str(2**64)], str(2**64)),
    ([*B, "--seed", "-1"], "-1"),
    ([*B, "--num-prompts", "0"], "0"),
    ([*B, "--repeats", "0"], "0"),
    ([*B, "--repeats", "300000000"], "300000000"),
    ([*B, "--latency-samples", "1"], "1"),
    ([*B, "--latency-context", "0"], "0"),
    ([*B, "--latency-context", "10000000"], "10000000"),
    ([*B, "--threads", "0"], "0"),
    ([*B, "--device", "tpu"], "tpu"),
    ([*B, "--dtype", "fp7"], "fp7"),
    ([*B, "--device-map", "everywhere"], "everywhere"),
    ([*B, "--prompts", "{d}/missing.txt"], "missing.txt"),
    ([*B, "--prompts", "{d}/nonutf8.txt"], "nonutf8.txt"),
    ([*B, "--prompts", "{d}/prompts_empty.txt"], "prompts_empty.txt"),
    ([*B, "--prompts", "{d}/prompts.csv"], "prompts.csv"),
    ([*B, "--prompts", "{d}/prompts_bad.jsonl"], "prompts_bad.jsonl:1"),
    ([*B, "--prompts", "{d}/prompts_list.jsonl"], "prompts_list.jsonl:1"),
    ([*B, "--prompts", "{d}/prompts_num.jsonl"], "prompts_num.jsonl:1"),
    ([*B, "--prompts", "{d}/dir"], "dir"),
    ([*B, "--prompts", "{d}/prompts_huge.txt"], "1000001 characters"),
    ([*B, "--prompts", "{d}/prompts_long.txt", "--target", "{m}/draft", "--draft", "{m}/draft"],
     "40000 characters"),
    ([*B, "--perplexity", "--perplexity-text", "{d}/missing.txt"], "missing.txt"),
    ([*B, "--perplexity", "--perplexity-text", "{d}/empty.txt"], "empty.txt"),
    ([*B, "--perplexity", "--perplexity-text", "{d}/blank.txt"], "blank.txt"),
    ([*B, "--perplexity", "--perplexity-text", "{d}/nonutf8.txt"], "nonutf8.txt"),
    ([*B, "--output", "{d}/prompts.txt"], "prompts.txt"),
    ([*B, "--output", "{d}/config.json"], "config.json"),
    ([*B, "--output", "{d}/rec_ok.jsonl"], "--append"),
    ([*B, "--output", "{d}/dir"], "dir"),
    ([*B, "--output", "/dev/full"], "/dev/full"),
    ([*B, "--output", "{d}/rec_ok.jsonl/x.jsonl"], "x.jsonl"),
    ([*B, "--target", "{d}/missing", "--draft", "{d}/missing"], "missing"),
    ([*B, "--target", "{d}/dir", "--draft", "{d}/dir"], "dir"),
    ([*B, "--target", "{m}/truncated", "--draft", "{m}/draft"], "truncated"),
    ([*B, "--target", "{m}/garbage", "--draft", "{m}/draft"], "garbage"),
    ([*B, "--target", "{m}/evilpickle", "--draft", "{m}/draft"], "evilpickle"),
    ([*B, "--target", "someorg/no-such-model", "--draft", "someorg/no-such-draft"], "someorg/no-such-model"),
    ([*B, "--target", "{m}/brokenconfig", "--draft", "{m}/draft"], "config.json"),
]

PROFILE = [
    ([*F[:-2], "-o", "{d}/out/p.yaml", "--sizes", "nan"], "nan"),
    ([*F, "--sizes", "abc"], "abc"),
    ([*F, "--sizes", "1"], "1"),
    ([*F, "--sizes", ","], ","),
    ([*F, "--sizes", "1e400"], "1e400"),
    ([*F, "--context", "-1"], "-1"),
    ([*F, "--context", "10000000"], "10000000"),
    ([*F, "--max-tokens", "0"], "0"),
    ([*F, "--max-tokens", "100000"], "100000"),
    ([*F, "--repeats", "0"], "0"),
    ([*F, "--repeats", "300000000"], "300000000"),
    ([*F, "--warmup", "-1"], "-1"),
    ([*F, "--aspect-ratio", "nan"], "nan"),
    ([*F, "--aspect-ratio", "0"], "0"),
    ([*F, "--device", "tpu"], "tpu"),
    ([*F, "--dtype", "fp7"], "fp7"),
    ([*F, "--threads", "0"], "0"),
    ([*F, "--seed", str(2**64)], str(2**64)),
    ([*F, "--model", "{d}/missing"], "missing"),
    ([*F, "--model", "{d}/dir"], "dir"),
    ([*F, "--model", "{m}/encdec"], "encdec"),
    ([*F, "--model", "someorg/no-such-model"], "someorg/no-such-model"),
    ([*F, "-o", "/dev/full"], "/dev/full"),
    ([*F, "-o", "{d}/rec_ok.jsonl/p.yaml"], "p.yaml"),
]

GLOBAL = [
    (["frobnicate"], "frobnicate"),
    (["--frobnicate"], "--frobnicate"),
    (["profiles", "extra"], "extra"),
]

TABLE = [("plan", *c) for c in PLAN] + [("report", *c) for c in REPORT] + [("calibrate", *c) for c in CALIBRATE] \
    + [("bench", *c) for c in BENCH] + [("profile", *c) for c in PROFILE] + [("global", *c) for c in GLOBAL]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from model_folders import bad_model_folders

    return {"d": str(make_files(tmp_path_factory.mktemp("bad"))), "m": bad_model_folders()}


def _case_id(case) -> str:
    command, args, needle = case
    return f"{command}:{' '.join(args[len(P if command == 'plan' else ()):])[-60:]}"


@pytest.mark.parametrize("command,args,needle", TABLE, ids=[_case_id(c) for c in TABLE])
def test_bad_input_is_one_line_naming_the_value_and_exit_2(folders, command, args, needle):
    args = [a.format(**folders) for a in args]
    result = CliRunner().invoke(app, args)
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.strip().splitlines() if not PROGRESS.match(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_the_table_covers_every_command():
    counts = {c: sum(1 for t in TABLE if t[0] == c) for c in ("plan", "report", "calibrate", "bench", "profile")}
    assert sum(counts.values()) >= 150 and min(counts.values()) >= 15, counts
