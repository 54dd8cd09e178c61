"""Per-image time of the neural signals beside a bare forward of the same model.

RANDOM WEIGHTS, FULL-SIZE ARCHITECTURES: the numbers measure speed only, never accuracy.

For each model (Sumsub Model5M = MobileNetV3-large + head; CLIP ViT-B/32 image tower) it
builds a random-weight checkpoint in the public format, installs it in a temporary store
with `forensics.weights.install.add` (ONNX conversion + parity check), then times, per image:

* engine      ``signal.analyze`` (batch 1) / ``signal.analyze_batch`` (batch 16) on decoded
              ``LoadedImage``s: preprocessing from full resolution + onnxruntime + scoring;
* bare ort    the installed ONNX session on a ready tensor (no preprocessing);
* bare torch  eager ``model(x)`` under ``inference_mode`` on a ready tensor (channels-last
              for the CNN), i.e. what a plain PyTorch script would pay for the forward.

Run: ``PYTHONPATH=tests python benchmarks/bench_neural.py [--size 1024x768] [--threads N] [--repeat 5]``
(needs the ``convert`` extra; ``PYTHONPATH=tests`` finds the tests' checkpoint builders).
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from forensics import load_image
from forensics.weights.install import add, spec as builtin_spec
from forensics.signals.clip import ClipZeroShotSignal
from forensics.signals.mobilenet import MobileNetSignal
from forensics.signals.neural import preprocess_batch


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)  # the machine may be shared: the fastest run is the least disturbed


def images(n: int, w: int, h: int):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        rgb = np.stack([0.5 + 0.3 * np.sin(5 * x + i), 0.4 + 0.3 * y, 0.6 - 0.2 * x * y], -1)
        rgb = np.clip((rgb + rng.normal(0, 0.03, rgb.shape)) * 255, 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90)
        out.append(load_image(buf.getvalue()))  # decoding is not part of the signal
    return out


def bench(label, sig, torch_model, side, pics, repeat, channels_last):
    sess = sig.model.session()
    rows = []
    for b in (1, 16):
        batch = pics[:b]
        x = preprocess_batch(batch, side)
        tx = torch.from_numpy(x)
        if channels_last:
            tx = tx.contiguous(memory_format=torch.channels_last)
        engine = timed((lambda: sig.analyze(batch[0])) if b == 1 else (lambda: sig.analyze_batch(batch)), repeat) / b
        ort = timed(lambda: sess.run(None, {"pixels": x}), repeat) / b
        with torch.inference_mode():
            bare = timed(lambda: torch_model(tx), repeat) / b
        pre = timed(lambda: preprocess_batch(batch, side, sig.threads), repeat) / b
        rows.append((b, engine, pre, ort, bare))
    print(f"\n{label}")
    print(f"  {'batch':>5} {'engine':>10} {'(preproc)':>10} {'bare ort':>10} {'bare torch':>11} {'engine/torch':>13} {'engine/ort':>11}")
    for b, engine, pre, ort, bare in rows:
        print(f"  {b:>5} {engine * 1e3:>8.2f}ms {pre * 1e3:>8.2f}ms {ort * 1e3:>8.2f}ms {bare * 1e3:>9.2f}ms "
              f"{engine / bare:>12.2f}x {engine / ort:>10.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1024x768", help="decoded image size WxH (default 1024x768)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for torch and onnxruntime")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-clip", action="store_true")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(args.threads)
    pics = images(16, w, h)
    print(f"RANDOM WEIGHTS (speed only). images {w}x{h}, threads {args.threads}, torch {torch.__version__}, "
          f"best of {args.repeat}; times are per image")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from support.neural_checkpoints import sumsub_folder  # the tests' helpers: PYTHONPATH=tests

        folder, ref = sumsub_folder(tmp / "sd5")
        side = add("sumsub_sd5", folder, root=tmp / "home")
        sig = MobileNetSignal(home=str(tmp / "home"), threads=args.threads)
        ref = ref.to(memory_format=torch.channels_last)
        bench(f"sumsub_sd5: MobileNetV3-large 224 (ONNX parity {side['onnx']['parity_max_abs']:.1e})",
              sig, ref, side, pics, args.repeat, channels_last=True)
        if not args.skip_clip:
            import open_clip

            torch.manual_seed(0)
            model = open_clip.create_model("ViT-B-32", pretrained=None, force_quick_gelu=True).eval()
            ckpt = tmp / "clip" / "open_clip_model.safetensors"
            ckpt.parent.mkdir()
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
            spec = replace(builtin_spec("clip_vit_b32_openai"), name="clip_bench")
            side = add("clip_bench", ckpt, root=tmp / "home", weight_spec=spec)
            csig = ClipZeroShotSignal(weights="clip_bench", home=str(tmp / "home"), threads=args.threads)
            bench(f"clip_zeroshot: ViT-B/32 image tower 224 (ONNX parity {side['onnx']['parity_max_abs']:.1e})",
                  csig, model.visual, side, pics, args.repeat, channels_last=False)


if __name__ == "__main__":
    main()
