#!/usr/bin/env bash
# Detector recipes trained side by side on a lent GPU; their snapshots come back to be chosen among on the val part here.
#
#   here:       bash research/gpu_detectors.sh prepare
#   the device: run(command="EPOCHS=3 bash research/gpu_detectors.sh run", carry=[".gpu"], timeout_s=540)
#   here:       bash research/gpu_detectors.sh unpack /work/.device/<files_at> runs/gpu_detectors
#
# `prepare` packs the train part of both datasets and the Kaggle val part as WebP (research/pack_voc.py, 31 MiB:
# the tree sent is at most 64 MiB) into .gpu/data.tar.gz, ignored through .git/info/exclude. `run` trains the
# recipes at once for EPOCHS epochs and tars each run's snapshots (detector_epochN.pt) and history into $OUT.
#
# Measured on 2026-11-29 (research/results/two_datasets/detector_options/README.md): on the H200, three at once, the
# first epoch took 106 s of training and 26 s of validating 73 images, most of it cuDNN building kernels for each new
# input shape; this CPU takes 3.9 min an epoch. A 15-minute session fits about 3 epochs of each: too few to rank recipes
# that train for 10.
set -euo pipefail

RECIPES=(  # name: train_detector arguments beyond the common ones below
    "long:--seed 0"
    "long_seed1:--seed 1"
    "head4:--seed 0 --head-convs 4"
)
COMMON=(--body retinaface --face-weights .gpu/retinaface.pth --scales 448 480 512 544 576 --min-size 544 --max-size 725)

prepare() {
    local staging=/tmp/gpu_pack
    rm -rf .gpu "$staging" && mkdir .gpu
    "${PYTHON:-python3}" -m research.pack_voc --parts train --out "$staging" --quality "${QUALITY:-70}"
    "${PYTHON:-python3}" -m research.pack_voc --parts val --only face-mask-detection --out "$staging" --quality "${QUALITY:-70}"
    tar -C "$staging" -czf .gpu/data.tar.gz .  # one file: thousands of small ones cost the transfer more than their bytes
    cp ../shared/pretrained/retinaface_mobilenet0.25_widerface.pth .gpu/retinaface.pth
    grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
    du -sh --apparent-size .gpu
}

train() {  # name, epochs, extra arguments...: one recipe, in the background
    local name=$1 epochs=$2
    shift 2
    OMP_NUM_THREADS=4 python3 -m training.train_detector --data "$DATA"/* --device "$DEVICE" "${COMMON[@]}" "$@" \
        --epochs "$epochs" --eval-every "$epochs" --out "$RUNS/$name" > "$RUNS/$name.log" 2>&1 &
}

run() {
    local out=${OUT:-/tmp/gpu_detectors} start=$SECONDS epochs=${EPOCHS:?epochs of each recipe}
    DEVICE=${DEVICE:-cuda} RUNS=/tmp/gpu_runs DATA=/tmp/gpu_data
    mkdir -p "$out" "$RUNS" "$DATA" && tar -C "$DATA" -xzf .gpu/data.tar.gz
    nvidia-smi --query-gpu=name,memory.total --format=csv || true
    for recipe in "${RECIPES[@]}"; do
        train "${recipe%%:*}" "$epochs" ${recipe#*:} --keep-every 1 ${LIMIT:+--limit "$LIMIT"}
    done
    wait
    for recipe in "${RECIPES[@]}"; do
        local name=${recipe%%:*}
        tail -c 3000 "$RUNS/$name.log" | tr '\r' '\n' | grep -v "it/s" || true
        (cd "$RUNS" && tar -cf "$out/$name.tar" "$name/history.json" "$name.log" "$name"/detector*.pt) || echo "$name: incomplete"
    done
    echo "done in $(( SECONDS - start )) s"
}

unpack() {
    local from=$1 to=$2
    mkdir -p "$to"
    for tarball in "$from"/*.tar; do tar -C "$to" -xf "$tarball"; done
    ls "$to"/*
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    unpack) unpack "${2:?folder of the tars}" "${3:?destination}" ;;
    *) echo "usage: bash research/gpu_detectors.sh prepare | run | unpack FROM TO" >&2; exit 2 ;;
esac
