#!/usr/bin/env bash
# The prepared check for a session that is lent a GPU machine (no network; torch, transformers, typer, rich, scipy
# and pyyaml preinstalled; the repository arrives as a copy). One command; its steps' limits add up to 13.5 minutes,
# most take far less (the compiled steps' compilation: minutes, not yet measured on an H200):
#   1. `specplan profile --device cuda` on the default ladder -> a measured profile of this GPU (eager steps);
#   1b. `specplan profile --device cuda --compile` on 20M and 1.2B, k = 1..5 -> a compiled profile (static cache,
#      CUDA graphs; 2 graphs per model, compile time kept apart in its `compile` section);
#   2. `specplan bench --device cuda` on the embedded toy pair (ar, sd, hf) -> records, then `specplan report`;
#   2b. the compiled engine (static cache + CUDA graphs) beside eager ar, sd and hf on the toy pair, γ 2 and 4
#      (benchmarks/bench_sd_vs_hf.py --compiled-gamma; compile time reported apart; docs/compiled.md);
#   3. `specplan plan` with the bundled profile of this GPU beside `plan` with the profiles just measured, and the
#      step latencies the bundled profile predicts beside the measured ones (eager and compiled), per size and k.
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR] [BUNDLED_PROFILE]   (defaults: out/gpu_check, h200)
# A dry run elsewhere: DEVICE=cpu PROFILE_ARGS="--sizes 2M,8M --repeats 3" \
#   COMPILED_PROFILE_ARGS="--sizes 1M,2M --max-tokens 3 --repeats 3 --context 32" bash benchmarks/gpu_check.sh /tmp/gc
# Every step runs under its own time limit and the script goes on after a failure; summary.txt collects it all.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-out/gpu_check}
BUNDLED=${2:-h200}
DEVICE=${DEVICE:-cuda}
PROFILE_ARGS=${PROFILE_ARGS:-}
COMPILED_PROFILE_ARGS=${COMPILED_PROFILE_ARGS:---sizes 20M,1.2B --max-tokens 5 --repeats 10}
BENCH_ARGS=${BENCH_ARGS:-}
mkdir -p "$OUT_DIR"
# Install this copy (no dependencies, no network) into a folder of its own: the bundled profiles only exist as the
# package specplan.profiles once installed.
SITE=$(mktemp -d)
python3 -m pip install -q --no-deps --no-build-isolation --no-compile --target "$SITE" . >"$OUT_DIR/install.log" 2>&1 \
    || { echo "install failed: see $OUT_DIR/install.log"; exit 1; }
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
SP="python3 -m specplan"
SUMMARY="$OUT_DIR/summary.txt"
: >"$SUMMARY"

step() {  # step NAME LIMIT_S COMMAND...: run, log to NAME.log, note the exit code and time in the summary
    local name=$1 limit=$2; shift 2
    local start=$SECONDS
    timeout -s INT -k 30 "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1  # SIGINT: profile and bench keep what they measured
    local rc=$?
    echo "== $name: exit $rc in $((SECONDS - start)) s ($*)" | tee -a "$SUMMARY"
    return $rc
}

{
    echo "== machine"; date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
    python3 -c "import sys, torch, transformers; print('python', sys.version.split()[0], 'torch', torch.__version__,
'cuda', torch.version.cuda, 'transformers', transformers.__version__,
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda device')"
} >>"$SUMMARY" 2>&1

step profile 180 $SP profile --device "$DEVICE" $PROFILE_ARGS --output "$OUT_DIR/measured.yaml"
tail -n 3 "$OUT_DIR/profile.log" >>"$SUMMARY"

step profile_compiled 210 $SP profile --device "$DEVICE" --compile --no-loop $COMPILED_PROFILE_ARGS \
    --output "$OUT_DIR/measured-compiled.yaml"
tail -n 5 "$OUT_DIR/profile_compiled.log" >>"$SUMMARY"

step bench 150 $SP bench --device "$DEVICE" --gamma 1,2,4,8 --repeats 2 $BENCH_ARGS --output "$OUT_DIR/bench.jsonl"
step report 30 $SP report "$OUT_DIR/bench.jsonl" --format md --output "$OUT_DIR/report.md" \
    || $SP report "$OUT_DIR/bench.jsonl" --format md >"$OUT_DIR/report.md" 2>>"$OUT_DIR/report.log"
cat "$OUT_DIR/report.md" >>"$SUMMARY" 2>/dev/null

step compiled 210 python3 benchmarks/bench_sd_vs_hf.py --target specplan/assets/toy-target \
    --draft specplan/assets/toy-draft --prompts specplan/assets/toy-prompts.jsonl --prompt-bytes 128 \
    --device "$DEVICE" --gamma 2,4 --compiled-gamma 2,4 --repeats 2 --latency-samples 10
tail -n 16 "$OUT_DIR/compiled.log" >>"$SUMMARY"

for target in 8e9 70e9; do  # one device on both sides (a measured profile is one GPU): --tensor-parallel 1
    $SP plan --target-params "$target" --tensor-parallel 1 --profile "$BUNDLED" --json >"$OUT_DIR/plan__${BUNDLED}__$target.json" 2>>"$SUMMARY"
    for measured in measured measured-compiled; do
        if [ -s "$OUT_DIR/$measured.yaml" ]; then
            $SP plan --target-params "$target" --tensor-parallel 1 --profile "$OUT_DIR/$measured.yaml" --json \
                >"$OUT_DIR/plan__${measured#measured-}__$target.json" 2>>"$SUMMARY"
        fi
    done
done
COMPARE=()
[ -s "$OUT_DIR/measured.yaml" ] && COMPARE+=(--measured "$OUT_DIR/measured.yaml")
[ -s "$OUT_DIR/measured-compiled.yaml" ] && COMPARE+=(--compiled "$OUT_DIR/measured-compiled.yaml")
if [ ${#COMPARE[@]} -gt 0 ]; then
    step compare 30 python3 benchmarks/gpu_compare.py "${COMPARE[@]}" --bundled "$BUNDLED" --plan-dir "$OUT_DIR"
    cat "$OUT_DIR/compare.log" >>"$SUMMARY"
fi
echo "== done: everything is in $OUT_DIR" | tee -a "$SUMMARY"
