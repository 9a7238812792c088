#!/usr/bin/env bash
# docs/results.md in one command: SmolLM2-135M-Instruct zero-shot on the 7 shared dev sets,
# modes direct / naive (top-3) / agentic (tags protocol in the chat template).
#
#   bash scripts/results_smollm2.sh [OUT] [N]      # default OUT=runs/smollm2_zero_shot N=300
#
# Builds the indexes that are missing under $INDEXES (default indexes/): each multi-hop set's own
# corpus, and one index over the three pooled for NQ, TriviaQA, PopQA and Bamboogle (which ship
# no passages); then evaluates a seeded sample of N questions per dataset. Everything resumes:
# finished indexes are kept and finished questions are skipped, so re-running continues.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/smollm2_zero_shot}
N=${2:-300}
INDEXES=${INDEXES:-indexes}
DATA=${AGENTIC_RAG_DATA:-../shared/data/qa}
CLI=${CLI:-.venv/bin/agentic-rag}
PY=${PY:-.venv/bin/python}
export AGENTIC_RAG_DATA=$DATA

mkdir -p "$INDEXES"
for name in hotpotqa 2wikimultihopqa musique; do
  [ -f "$INDEXES/$name/manifest.json" ] || $CLI index build --corpus "$DATA/$name/corpus.jsonl" --out "$INDEXES/$name"
done
if [ ! -f "$INDEXES/pooled/manifest.json" ]; then
  $PY scripts/pool_corpora.py --out "$INDEXES/pooled_corpus.jsonl" \
    --check nq,triviaqa,popqa,bamboogle --sample "$N" --seed 0
  $CLI index build --corpus "$INDEXES/pooled_corpus.jsonl" --out "$INDEXES/pooled"
fi

$CLI eval --model smollm2-135m-instruct \
  --data hotpotqa,2wikimultihopqa,musique,nq,triviaqa,popqa,bamboogle \
  --mode direct,naive,agentic --sample "$N" --seed 0 --batch-size 16 \
  --index "$INDEXES/pooled" \
  --dataset-index hotpotqa="$INDEXES/hotpotqa" \
  --dataset-index 2wikimultihopqa="$INDEXES/2wikimultihopqa" \
  --dataset-index musique="$INDEXES/musique" \
  --out "$OUT" rollout.max_turn_tokens=48
