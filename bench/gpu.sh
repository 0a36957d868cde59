#!/usr/bin/env bash
# The README's GPU figures, in one run on a CUDA machine: embedder (Gemma-3-270M and Mistral-7B shapes, random
# weights), token budgets, attention kernels, torch.compile, the query service, the rerank and ingest. Each step
# writes its own log under $OUT (default ./bench-gpu) and a failing step does not stop the others.
#
#   TOKENIZER=DIR [STEPS="embed-270m search"] bash bench/gpu.sh
# TOKENIZER: a tokenizer folder (default: the packaged model's); STEPS: run only these steps.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-bench-gpu}
mkdir -p "$out"
py=${PYTHON:-python3}
tok=(${TOKENIZER:+--tokenizer "$TOKENIZER"})
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

step() {  # step NAME SECONDS COMMAND...: run with a time limit, stdout and stderr to $out/NAME.log
  local name=$1 limit=$2
  shift 2
  [[ -z ${STEPS:-} || " $STEPS " == *" $name "* ]] || return 0
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  echo "$name: exit $? after $((SECONDS - t0)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >"$out/gpu.txt" 2>&1
"$py" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  >>"$out/gpu.txt" 2>&1

step embed-270m 70 "$py" bench/embed.py --random-weights gemma-3-270m "${tok[@]}" --device cuda --texts 1000 \
  --lengths 20-500 --sweep-batch-tokens 16384,262144 --sweep-attn eager --json
step embed-7b 190 "$py" bench/embed.py --random-weights mistral-7b "${tok[@]}" --device cuda --texts 300 \
  --lengths 20-500 --sweep-batch-tokens 16384,131072 --sweep-attn sdpa-efficient,sdpa-cudnn,eager --json
step random-model 40 "$py" bench/random_weights.py --shape gemma-3-270m "${tok[@]}" --device cuda \
  --out /tmp/random-gemma
step search 100 "$py" bench/search.py --model /tmp/random-gemma --chunks 5000 --real 200 --clients 64 \
  --single-seconds 10 --seconds 12
step rerank 60 "$py" bench/rerank.py --model /tmp/random-gemma --device cuda --dtype bfloat16 --queries 50 \
  --passage-tokens 80,128 --json
step ingest 100 "$py" bench/ingest.py --model /tmp/random-gemma --format passages --files 100 \
  --chunks-per-file 100 --batch-size 256 --json
step compile-270m 100 "$py" bench/embed.py --random-weights gemma-3-270m "${tok[@]}" --device cuda --texts 2000 \
  --lengths 20-500 --no-naive --compile --json
