#!/usr/bin/env bash
# Everything BENCHMARKS.md's GPU section reports, measured in one call of a lent device (15 minutes a session).
#
#   here:       bash bench/gpu_session.sh prepare ../shared/data/face-mask-detection ../shared/gpu-wheels
#   the device: run(command="bash bench/gpu_session.sh run", carry=[".gpu", ".whl"], timeout_s=560)
#
# `prepare` copies the image split's test part into .gpu/data and the web-stack wheels into .whl (both ignored
# through .git/info/exclude). `run` installs the wheels (the device's Python lacks fastapi, uvicorn, pydantic),
# then evaluates fp32 / fp16 accuracy, loads a 4-worker server with the models in child processes (the CUDA default)
# and in threads, times the pipeline and profiles batches of 16 and 64; logs and JSON go to $OUT.
set -euo pipefail

prepare() {
    local data=$1 wheels=$2
    rm -rf .gpu .whl
    mkdir -p .gpu/data/images .gpu/data/annotations .whl
    for stem in $(python3 -c "import json; print(' '.join(json.load(open('splits/image_split.json'))['test']))"); do
        [ -f "$data/annotations/$stem.xml" ] || continue  # the split also names the other dataset's images
        cp "$data/images/$stem".* .gpu/data/images/
        cp "$data/annotations/$stem.xml" .gpu/data/annotations/
    done
    cp "$wheels"/*.whl .whl/
    grep -qx "/.gpu/" .git/info/exclude || printf '/.gpu/\n/.whl/\n' >> .git/info/exclude
    du -sh .gpu .whl
}

run() {
    local out=${OUT:-/tmp/gpu_session}
    mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD MASKWATCH_LOG_LEVEL=warning
    nvidia-smi --query-gpu=name,memory.total --format=csv
    python3 -c "import torch, torchvision, fastapi, uvicorn; print(torch.__version__, torchvision.__version__, fastapi.__version__, uvicorn.__version__)"
    for cfg in "fp32 1" "fp16 16"; do
        set -- $cfg
        timeout 90 python3 -m training.evaluate --pipeline --data .gpu/data --part test --device cuda --precision "$1" \
            --batch "$2" --scale 528 --score-floor 0.1 --out "$out/eval_$1_$2" > "$out/eval_$1_$2.json" || echo "evaluate $cfg failed: $?"
    done
    # the targets: the service's CUDA default, models in a child process of each worker
    timeout 240 python3 -m bench --device cuda --precision fp16 --data .gpu/data --workers 4 --clients 4 --requests 512 \
        --batch-sizes 1,16,64 --concurrency 1,16,64 --out "$out/bench" || echo "bench failed: $?"
    # the same load with the models in a thread of each worker, as before: what the child process changes
    timeout 120 python3 -m bench --device cuda --precision fp16 --data .gpu/data --workers 4 --clients 4 --requests 512 \
        --skip-model --concurrency 16,64 --model-process off --out "$out/bench_thread" || echo "bench (thread) failed: $?"
    timeout 60 python3 -m bench.pipeline --device cuda --data .gpu/data --runs 200 > "$out/bench_pipeline.json" || echo "bench.pipeline failed: $?"
    for batch in 16 64; do  # last: where a batch's time goes (kept if the call runs out of time; 45 s each was too short)
        timeout 90 python3 -m bench.profile --device cuda --precision fp16 --data .gpu/data --batch "$batch" \
            --out "$out/profile" > /dev/null || echo "bench.profile $batch failed: $?"
    done
}

case "${1:-}" in
    prepare) prepare "${2:?VOC folder}" "${3:?wheel folder}" ;;
    run) run ;;
    *) echo "usage: bash bench/gpu_session.sh prepare VOC_DIR WHEEL_DIR | run" >&2; exit 2 ;;
esac
