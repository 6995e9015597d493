#!/usr/bin/env bash
# How the shipped enhance models were trained: several configs side by side on one lent GPU for a
# wall-clock budget, in calls of at most ten minutes. Each call first runs every config for a few
# steps (a broken setup fails in seconds, not after the budget), then trains, stops every run with
# SIGTERM (each saves a checkpoint at its current step) and packs the run folders into OUT_DIR for the
# trip back. The next call continues the runs it finds in runs/ with --resume.
#
#   scripts/train-on-gpu.sh SECONDS OUT_DIR CONFIG...      (CONFIG: a name in training/configs/)
#
# The photos come from .photos/ (Debian's photos, split into train/ and val/ as training/photos.py does).
set -u
seconds=$1 out=$2
shift 2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

for name in "$@"; do  # the smoke test
  init=()
  [ "$name" = enhance-x4-detail ] && init=(--set 'train.init_from="/tmp/smoke/enhance-x4/checkpoint.pt"')
  python3 -m training train --config "training/configs/$name.toml" --data .photos --run-dir "/tmp/smoke/$name" \
    --steps 4 --set output.log_every=2 --set output.sample_every=4 --set output.checkpoint_every=2 "${init[@]}" \
    > "/tmp/smoke-$name.log" 2>&1 || { echo "smoke test of $name failed:"; tail -30 "/tmp/smoke-$name.log"; exit 1; }
done
echo "smoke tests passed"

pids=()
for name in "$@"; do
  resume=()
  [ -f "runs/$name/checkpoint.pt" ] && resume=(--resume)
  python3 -m training train --config "training/configs/$name.toml" --data .photos "${resume[@]}" \
    --set train.threads=2 > "runs-$name.log" 2>&1 &
  pids+=($!)
done
sleep "$seconds"
kill -TERM "${pids[@]}"
wait
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader

for name in "$@"; do
  grep -v '^step [0-9]*/' "runs-$name.log" | tail -5
  tail -2 "runs-$name.log"
  latest=$(ls "runs/$name/samples" | tail -1)
  tar cf - "runs/$name/checkpoint.pt" "runs/$name/log.csv" "runs/$name/losses.png" "runs/$name/samples/$latest" \
    "runs-$name.log" | split -b 15M - "$out/$name.tar."
done
ls -la "$out"
