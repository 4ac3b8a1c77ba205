"""Re-measure the CPU speed-ups quoted in BENCHMARKS.md, each before and after, on the same images.

    python -m bench.speedups [--data VOC_DIR] [--runs 40]

1. torch called from the main thread only vs also from a second thread (a second OpenMP team);
2. flip test-time augmentation as two forward passes vs one pass over both views;
3. the classifier with its BatchNorm layers as trained vs folded into the convolutions (what it serves);
4. detector score floor 0.05 (the weights') vs 0.1 (the service's), val part: time and face AP;
5. torchvision's per-image FCOS post-processing vs FaceFCOS's whole-batch one, 16 val images in one batch:
   time on this CPU and the count of torch ops (each one a kernel launch on a GPU) and host syncs;
6. glibc's default allocator settings vs large freed blocks kept for reuse (`models/allocator.py`), val part,
   each in a fresh process: detection time and page faults per image at short sides 528 and 544;
7. 1080p JPEG camera frames made from the val part (`bench.camera_frames`): decoding with Pillow (`app.imaging`)
   vs OpenCV (tried, not kept: BENCHMARKS.md), and the shrink to the detector's read size, which moved out of
   the model thread;
8. the interpreter lock: a tiny torch op (the size of a GPU kernel launch) alone, then beside a thread running
   pure Python as the event loop does under load; why CUDA runs the models in a child (`app/model_process.py`).
"""
import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
from torch.profiler import profile
from torchvision.models.detection import FCOS

from app.imaging import decode_image
from bench.__main__ import FIXTURE, camera_frames
from models.allocator import keep_freed_memory
from models.checkpoint import load_checkpoint
from models.crops import to_tensor
from models.detector import detect, image_tensor, load_detector
from models.pipeline import DEFAULT_DETECTOR, Job, MaskPipeline, long_side
from training.data import KAGGLE_DATA
from training.detection_metrics import evaluate_detections
from training.splits import SPLIT_FILES, load_split
from training.voc import read_voc


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times[2:]), 1)


def threads(pipeline: MaskPipeline, images: list, runs: int) -> dict:
    one_image = lambda: [pipeline.run([Job(rgb)]) for rgb in images]  # noqa: E731
    main = median_ms(one_image, runs) / len(images)
    with ThreadPoolExecutor(1) as other:  # a second calling thread gets its own OpenMP team
        second = other.submit(median_ms, one_image, runs).result() / len(images)
    return {"main_thread_only_ms": round(main, 1), "in_a_second_thread_ms": round(second, 1),
            "main_thread_again_ms": round(median_ms(one_image, runs) / len(images), 1)}


@torch.inference_mode()
def flip_tta(pipeline: MaskPipeline, images: list, runs: int) -> dict:
    rgb = images[0]
    boxes = pipeline.faces(rgb)[0]
    x = to_tensor(pipeline.classifier.crops(rgb, boxes)).contiguous(memory_format=torch.channels_last)
    model = pipeline.classifier.model
    return {"faces": len(boxes), "two_passes_ms": median_ms(lambda: (model(x) + model(x.flip(3))) / 2, runs),
            "one_pass_ms": median_ms(lambda: model(torch.cat([x, x.flip(3)])), runs)}


@torch.inference_mode()
def classifier_batchnorm(pipeline: MaskPipeline, faces: int, runs: int) -> dict:
    size = pipeline.classifier.spec.input_size
    x = torch.randn(faces, 3, size, size).contiguous(memory_format=torch.channels_last)
    trained = load_checkpoint(pipeline.classifier.weights, "cpu")[0].to(memory_format=torch.channels_last)
    folded = pipeline.classifier.model
    return {"faces": faces, "batchnorm_ms": median_ms(lambda: trained(x), runs), "folded_ms": median_ms(lambda: folded(x), runs),
            "max_abs_logit_difference": float((trained(x) - folded(x)).abs().max())}


def score_floor(pipeline: MaskPipeline, data: str) -> dict:
    voc = val_images(data)
    rgbs = [im.load_rgb() for im in voc]
    out = {}
    for floor in (0.05, 0.1):
        pipeline.detector.score_thresh = floor
        [pipeline.detect(rgb) for rgb in rgbs]  # warm every shape
        start, preds = time.perf_counter(), []
        for rgb in rgbs:
            boxes, scores = pipeline.detect(rgb)
            preds.append((boxes, np.zeros(len(boxes), int), scores))
        ms = (time.perf_counter() - start) * 1000 / len(rgbs)
        ap = evaluate_detections([(im.boxes, np.zeros(len(im.boxes), int)) for im in voc], preds, 1)["face_ap50"]
        out[str(floor)] = {"detect_mean_ms": round(ms, 1), "val_face_ap50": round(ap, 4)}
    return out


def op_counts(fn) -> dict:
    with profile() as prof:
        fn()
    events = prof.key_averages()
    return {"torch_ops": sum(e.count for e in events), "host_syncs": sum(e.count for e in events if e.key == "aten::nonzero")}


@torch.inference_mode()
def head_outputs(model: FCOS, images: list[torch.Tensor]) -> tuple[dict, list, list]:
    """What `FCOS.forward` hands its post-processing for these (3, H, W) images: head outputs and anchors split
    per level, and the resized image sizes (to compare post-processors on the same input)."""
    batch, _ = model.transform(images)
    features = list(model.backbone(batch.tensors.contiguous(memory_format=torch.channels_last)).values())
    sizes = [f.shape[2] * f.shape[3] for f in features]
    head = {k: list(v.split(sizes, dim=1)) for k, v in model.head(features).items()}
    anchors = [list(a.split(sizes)) for a in model.anchor_generator(batch, features)]
    return head, anchors, batch.image_sizes


@torch.inference_mode()
def batched_postprocess(pipeline: MaskPipeline, data: str, runs: int, batch: int = 16) -> dict:
    model = pipeline.detector
    outputs = head_outputs(model, [image_tensor(im.load_rgb()) for im in val_images(data)[:batch]])
    per_image, batched = (lambda: FCOS.postprocess_detections(model, *outputs)), (lambda: model.postprocess_detections(*outputs))
    return {"images": batch, "per_image_ms": median_ms(per_image, runs), "batched_ms": median_ms(batched, runs),
            "per_image_ops": op_counts(per_image), "batched_ops": op_counts(batched)}


def val_images(data: str) -> list:
    wanted = set(load_split(SPLIT_FILES["image"])["val"])
    return [im for im in read_voc(data) if im.stem in wanted]


def detect_per_image(reuse: bool, data: str) -> dict:
    """Median detection ms and mean page faults per val image at two read scales; run in a fresh process."""
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    if reuse:
        keep_freed_memory()
    model = load_detector(DEFAULT_DETECTOR)[0]
    rgbs = [im.load_rgb() for im in val_images(data)]
    out = {}
    for short in (528, 544):
        model.transform.min_size, model.transform.max_size = (short,), long_side(short)
        [detect(model, [rgb]) for rgb in rgbs]  # warm every shape
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        ms = median_ms(lambda: [detect(model, [rgb]) for rgb in rgbs], 3) / len(rgbs)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (3 * len(rgbs))
        out[str(short)] = {"detect_ms": round(ms, 1), "page_faults": round(faults)}
    return out


def allocator(data: str) -> dict:
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:  # the setting is process-wide
        default, reused = pool.starmap(detect_per_image, [(False, data), (True, data)], chunksize=1)
    return {"glibc_default": default, "freed_blocks_reused": reused}


def frames(pipeline: MaskPipeline, data: str, runs: int) -> dict:
    jpegs = camera_frames([im.image_path.read_bytes() for im in val_images(data)[:20]], (1920, 1080))
    pillow = lambda: [decode_image(j, 10**9) for j in jpegs]  # noqa: E731
    opencv = lambda: [cv2.cvtColor(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for j in jpegs]  # noqa: E731
    rgbs = pillow()
    return {"frames": len(jpegs), "size": "1920x1080", "mean_kb": round(sum(map(len, jpegs)) / len(jpegs) / 1024),
            "pillow_decode_ms": round(median_ms(pillow, runs) / len(jpegs), 2),
            "opencv_decode_ms": round(median_ms(opencv, runs) / len(jpegs), 2),
            "shrink_ms": round(median_ms(lambda: [pipeline.shrink(rgb) for rgb in rgbs], runs) / len(jpegs), 2)}


def gil(ops: int = 3000) -> dict:
    x = torch.zeros(16)
    per_op_us = lambda: median_ms(lambda: [x.add_(1) for _ in range(ops)], 5) * 1000 / ops  # noqa: E731
    alone = per_op_us()
    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            sum(i * i for i in range(2000))

    busy = threading.Thread(target=spin)
    busy.start()
    beside = per_op_us()
    done.set()
    busy.join()
    return {"op": "add_ on 16 floats", "alone_us": round(alone, 2), "beside_busy_python_thread_us": round(beside, 1),
            "switch_interval_ms": sys.getswitchinterval() * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=KAGGLE_DATA, help="VOC folder with the image split's val part")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--faces", type=int, default=16, help="faces per classifier batch in the BatchNorm comparison")
    args = parser.parse_args()
    reuse = allocator(args.data)  # first, in fresh processes: the pipeline below turns the setting on in this one
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # as the service does
    pipeline = MaskPipeline()
    fixtures = [im.load_rgb() for im in read_voc(FIXTURE)]
    batchnorm = classifier_batchnorm(pipeline, args.faces, 10 * args.runs)  # first: the thread test's second OpenMP team skews what follows
    print(json.dumps({"threads": threads(pipeline, fixtures, args.runs), "flip_tta": flip_tta(pipeline, fixtures, args.runs),
                      "classifier_batchnorm": batchnorm,
                      "score_floor": score_floor(pipeline, args.data),
                      "batched_postprocess": batched_postprocess(pipeline, args.data, args.runs), "allocator": reuse,
                      "camera_frames": frames(pipeline, args.data, args.runs), "gil": gil()}, indent=1))


if __name__ == "__main__":
    main()
