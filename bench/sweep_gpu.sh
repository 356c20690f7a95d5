#!/usr/bin/env bash
# One device call: the recipe sweep on one GPU (variants as parallel processes), results under $OUT.
# Measured on one H200: six single-turn variants of 3000 language steps took ~330 s with evaluation; these six
# multi-turn variants had not finished after 385 s (DEADLINE): give them ~550 s or run fewer at once.
# The device's own transformers may be older than requirements.txt: carry the pinned wheel (see the device notes).
set -u
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-cuda-mps-control -d 2>/dev/null && echo "MPS on" || echo "MPS not started"
python3 -c "import torch, transformers, accelerate; print(torch.__version__, transformers.__version__, accelerate.__version__, torch.cuda.get_device_name())"
S="${STEPS:-3000}"; C="--total-steps $S --tower-steps 600"
python3 bench/recipe_sweep.py --out /tmp/sweep --parallel 6 --threads 2 --eval 600 --deadline-s "${DEADLINE:-450}" \
  recipe_mt6_6k="$C --per-image 6 --max-turns 6 --n-train 6000" \
  recipe_mt6_12k="$C --per-image 6 --max-turns 6 --n-train 12000" \
  joint_mt6_12k="$C --stages towers,joint --per-image 6 --max-turns 6 --n-train 12000" \
  recipe_st_6k="$C --per-image 3 --max-turns 1 --n-train 6000" \
  recipe_mt3_12k="$C --per-image 6 --max-turns 3 --n-train 12000" \
  recipe_mt6_18k="$C --per-image 6 --max-turns 6 --n-train 18000" 2>&1 | tee $OUT/sweep.txt
cd /tmp/sweep && tar czf $OUT/sweep_logs.tgz */log.txt */eval.json */run_summary.json sweep.json 2>/dev/null
best=$(python3 -c "
import json; r=[x for x in json.load(open('sweep.json')) if 'error' not in x]
b=max(r, key=lambda x: x['closed']+x['region']+x['mdice']); print(b['name'])" 2>/dev/null)
if [ -n "$best" ]; then
  final=$(python3 -c "import json; print(json.load(open('$best/run_summary.json'))['final'])")
  tar cf - -C "$(dirname $final)" "$(basename $final)" | gzip -1 | split -b 15M - $OUT/best_${best}.tgz.part
fi
ls -la $OUT
