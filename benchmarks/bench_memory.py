"""Peak memory of one score-family explanation, measured in a fresh process (peak RSS only ever grows).

``python benchmarks/bench_memory.py --method scorecam --chunk 16 --top-k 64 --size 224 --threads 2``
prints one JSON line: the peak RSS after building the model and one plain forward of the image
(``baseline_mb``), after the explanation (``peak_mb``) and their difference (``delta_mb``), which is
what the masked forwards cost. ``--method pytorch-grad-cam`` measures that library's ScoreCAM instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TQDM_DISABLE", "1")


def measure(method: str, chunk: int | str, top_k: int | None, size: int, threads: int) -> dict[str, object]:
    import torch
    from bench_common import resnet50, rss_mb, shapes_images

    torch.set_num_threads(threads)
    model = resnet50()
    x = shapes_images(1, size)
    with torch.inference_mode():
        model(x)
    baseline = rss_mb()
    start = time.perf_counter()
    if method == "pytorch-grad-cam":
        import pytorch_grad_cam as pgc

        cam = pgc.ScoreCAM(model=model, target_layers=[model.layer4])
        try:
            cam(input_tensor=x, targets=None)
        finally:
            cam.activations_and_grads.release()
    else:
        from camx.cam import explain

        options = {} if top_k is None else {"top_k": top_k}
        explain(model, x, method, chunk_size=chunk, **options)
        from camx.cam.score import chunk_for

        if chunk == "auto":
            chunk = f"auto ({chunk_for('auto', (size, size), torch.device('cpu'))})"
    seconds = time.perf_counter() - start
    peak = rss_mb()
    return {
        "method": method,
        "chunk_size": None if method == "pytorch-grad-cam" else chunk,
        "top_k": top_k,
        "image_size": size,
        "baseline_mb": baseline,
        "peak_mb": peak,
        "delta_mb": peak - baseline,
        "seconds": seconds,
        "status": "ok",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", default="scorecam")
    parser.add_argument("--chunk", default="auto", help="masked images per forward, or auto")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    chunk = args.chunk if args.chunk == "auto" else int(args.chunk)
    print(json.dumps(measure(args.method, chunk, args.top_k, args.size, args.threads)))


if __name__ == "__main__":
    main()
