#!/usr/bin/env bash
# The CUDA figures asked for in the closing notes, in one go on a GPU machine:
#   CLIP stage clips/s with fp16 autocast, trainer steps/s (fp32 vs bf16, and this machine's CPUs for
#   comparison), the analysis pass with TransNetV2 / hybrid scene detection on CUDA against the decode
#   floor and the network's own frames/s, then a short CUDA training run on real shards and its
#   caption-following score, then torchrun DDP over every GPU (NCCL; one GPU runs a world of one) with
#   aspect buckets.
# Usage: bash benchmarks/gpu_checks.sh SHARDS RUN_DIR [MINUTES] [WORKERS]
set -euo pipefail
SHARDS=${1:?usage: benchmarks/gpu_checks.sh SHARDS RUN_DIR [MINUTES] [WORKERS]}
RUN=${2:?usage: benchmarks/gpu_checks.sh SHARDS RUN_DIR [MINUTES] [WORKERS]}
MINUTES=${3:-3}
WORKERS=${4:-8}
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY benchmarks/clip_throughput.py --device cuda --models vcurate-tiny vcurate-small ViT-B-32 --batch-sizes 32 128 --clips 1024
$PY benchmarks/train_speed.py --device cuda --precision fp32 bf16 --batch-sizes 16 64 --steps 40
$PY benchmarks/train_speed.py --device cpu --batch-sizes 16 --steps 5
for batch in 1 8; do
  $PY benchmarks/analysis_cost.py --videos 4 --size 1280x720 --repeat 2 --detectors content transnetv2 hybrid \
      --set split.transnet_device=cuda --set split.transnet_batch=$batch --name "analysis_cost-1280x720-cuda-batch$batch"
done
$PY -m vcurate train --config pipelines/train-demo.yaml --shards "$SHARDS" --output "$RUN" --device cuda \
    --max-minutes "$MINUTES" --workers "$WORKERS" --quiet
$PY -m vcurate eval-gen "$RUN" --output "$RUN/eval-gen.json" > /dev/null
cat "$RUN/summary.json" "$RUN/eval-gen.json"
GPUS=$(nvidia-smi -L | wc -l)
$PY -m torch.distributed.run --nproc_per_node "$GPUS" -m vcurate.cli train --config pipelines/train-demo.yaml \
    --shards "$SHARDS" --output "$RUN-ddp" --device cuda --max-steps 200 --workers "$WORKERS" --quiet --set data.aspect=bucket
cat "$RUN-ddp/summary.json"
