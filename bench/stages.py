"""Model-only timing: decode, detect, classify and annotate per batch size, no HTTP.

"decode" includes the shrink of big images to the detector's read size, which the service does in its decode
threads too; "detect" is the model thread's share.
"""
import time

import numpy as np
import torch

from app.imaging import decode_image, encode_png
from models.annotate import annotate
from models.pipeline import MaskPipeline


def _mean_ms(fn, batches: list, sync: bool) -> float:
    start = time.perf_counter()
    for batch in batches:
        fn(batch)
    if sync:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000 / len(batches)


def time_stages(pipeline: MaskPipeline, uploads: list[bytes], batch_sizes: list[int], repeats: int) -> list[dict]:
    """Mean ms per batch of each stage and the model's images/s (detect + classify), per batch size.

    Each size runs over max(repeats, enough batches to use every image once), images taken in turn.
    """
    sync = pipeline.device.type == "cuda"
    decoded = [decode_image(data, 10**9) for data in uploads]
    rows = []
    for size in batch_sizes:
        count = max(repeats, -(-len(uploads) // size))
        picks = [[(b * size + i) % len(uploads) for i in range(size)] for b in range(count)]
        images = [[decoded[i] for i in batch] for batch in picks]
        smalls = [[pipeline.shrink(rgb) for rgb in batch] for batch in images]
        found = [[pipeline.keep(*out) for out in pipeline.detect_batch(*batch)] for batch in zip(images, smalls)]
        boxes = [([b for b, _ in f], [s for _, s in f]) for f in found]
        faces = [pipeline.classify_batch(batch, *bs) for batch, bs in zip(images, boxes)]
        row = {"batch": size,
               "decode": _mean_ms(lambda batch: [pipeline.shrink(decode_image(uploads[i], 10**9)) for i in batch], picks, False),
               "detect": _mean_ms(lambda batch: pipeline.detect_batch(*batch), list(zip(images, smalls)), sync),
               "classify": _mean_ms(lambda b: pipeline.classify_batch(images[b], *boxes[b]), range(count), sync),
               "annotate": _mean_ms(lambda b: [encode_png(annotate(im, f)) for im, f in zip(images[b], faces[b])], range(count), False),
               "faces": round(float(np.mean([sum(len(f) for f in batch) for batch in faces])), 1)}
        row["model_images_per_s"] = 1000 * size / (row["detect"] + row["classify"])
        rows.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
        print(f"  batch {size:3d}: " + ", ".join(f"{k} {row[k]:.1f} ms" for k in ("decode", "detect", "classify", "annotate"))
              + f" -> {row['model_images_per_s']:.1f} images/s", flush=True)
    return rows
