"""Up-sampling fakes made from the real photos themselves (the AutoGAN recipe), for ``forensics.training.train_npr``.

    python -m forensics.training.autogan_fakes --cache CACHE [--steps 2000] [--threads 2]

Zhang, Karaman and Chang (2019), "Detecting and Simulating Artifacts in GAN Fake Images": a
GAN generator's up-sampling leaves its trace whatever it was trained to draw, so an
autoencoder with a generator's decoder, trained only on real photos, makes fakes that carry
that trace with the content held fixed. The training material has no GANs; these fakes stand in
for them.

* The network is a small CycleGAN-style generator (as in the paper): a 7x7 stem, two stride-2
  convolutions down, a residual block, two stride-2 transposed convolutions up (the
  up-sampling GAN generators use) and a 7x7 output layer; 16-32-64 channels, 0.1 M parameters. It is trained with an L1
  reconstruction loss on random 64-px patches of the real photos' ``aug`` crops (fit split
  only), with a fixed seed.
* Each real photo's central 128-px patch (as found) is then reconstructed and given the reals'
  final encoding, drawn the same way as for the TAESD fakes: JPEG q60-100 (p 0.85) or lossless.

The autoencoder sees every fit-split real photo, held-out real sources included: it learns to
reproduce photos, never which images are generated, and a fake made from a real photo lies in
that photo's fold when ``train_npr.py --oof`` holds folds out. Writes ``CACHE/crop_autogan.npy``
(aligned with ``rows.json``; zeros for rows without a fake) and ``CACHE/autogan.json``.
Deterministic for a fixed thread count on one machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from forensics.training.fakes import final_encoding

SIZE = 128   # the fakes: the central patch of each real photo
PATCH = 64   # training patches (the network is fully convolutional)
SEED = 0


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, padding_mode="reflect"), nn.ReLU(True),
                                  nn.Conv2d(c, c, 3, padding=1, padding_mode="reflect"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class AutoGAN(nn.Module):
    """A CycleGAN-style generator used as an autoencoder: down x4, up x4 by transposed convolutions."""

    def __init__(self, width: int = 16, blocks: int = 1):
        super().__init__()

        def conv(i, o, k, s=1):
            return [nn.Conv2d(i, o, k, stride=s, padding=k // 2, padding_mode="reflect" if s == 1 else "zeros"),
                    nn.ReLU(True)]

        def up(i, o):
            return [nn.ConvTranspose2d(i, o, 3, stride=2, padding=1, output_padding=1), nn.ReLU(True)]

        w = width
        self.net = nn.Sequential(*conv(3, w, 7), *conv(w, 2 * w, 3, 2), *conv(2 * w, 4 * w, 3, 2),
                                 *[Block(4 * w) for _ in range(blocks)], *up(4 * w, 2 * w), *up(2 * w, w),
                                 nn.Conv2d(w, 3, 7, padding=3, padding_mode="reflect"), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255)


def train(crops, hw, idx, *, steps: int, bs: int = 16, lr: float = 2e-3, log=print) -> AutoGAN:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    net = AutoGAN()
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t, total = time.time(), 0.0
    for s in range(steps):
        b = np.sort(rng.choice(idx, bs))
        x = np.empty((bs, PATCH, PATCH, 3), np.uint8)
        for j, i in enumerate(b):
            ty, tx = rng.integers(0, hw[i][0] - PATCH + 1), rng.integers(0, hw[i][1] - PATCH + 1)
            x[j] = crops[i, ty:ty + PATCH, tx:tx + PATCH]
        x = to_tensor(x)
        loss = F.l1_loss(net(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item()
        if (s + 1) % 250 == 0:
            log(f"step {s + 1}: L1 {total / 250:.4f} ({time.time() - t:.0f} s)")
            t, total = time.time(), 0.0
    return net.eval()


def fit_reals(rows: list[dict]) -> list[int]:
    """The rows the autoencoder learns from and reconstructs: the fit-split real photos."""
    return [i for i, r in enumerate(rows) if r["label"] == "real" and "error" not in r and r["split"] == "fit"]


def fit_on_reals(cache: Path, rows: list[dict], steps: int, log=print) -> AutoGAN:
    """The autoencoder trained on random patches of the fit-split real photos' ``aug`` crops."""
    hw = [r.get("crop_hw", {}).get("aug", (0, 0)) for r in rows]
    return train(np.load(cache / "crop_aug.npy", mmap_mode="r"), hw, np.array([i for i in fit_reals(rows) if min(hw[i]) >= PATCH]),
                 steps=steps, log=log)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = json.loads((args.cache / "rows.json").read_text())
    net = fit_on_reals(args.cache, rows, args.steps, log=lambda m: print(m, flush=True))
    crops = np.load(args.cache / "crop_orig.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(args.cache / "crop_autogan.npy", "w+", np.uint8, (len(rows), SIZE, SIZE, 3))
    idx = [i for i in fit_reals(rows) if min(rows[i]["crop_hw"]["orig"]) >= 256]
    lo = (256 - SIZE) // 2
    for n, i in enumerate(idx):
        with torch.no_grad():
            y = net(to_tensor(crops[i:i + 1, lo:lo + SIZE, lo:lo + SIZE]))
        rec = (y[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        out[i] = final_encoding(rec, "autogan", rows[i]["path"])
        if n % 200 == 0:
            print(f"{n}/{len(idx)}", flush=True)
    out.flush()
    (args.cache / "autogan.json").write_text(json.dumps({"size": SIZE, "rows": idx, "steps": args.steps, "seed": SEED,
                                                         "parameters": int(sum(p.numel() for p in net.parameters()))}))
    print(f"wrote {len(idx)} reconstructions to {args.cache / 'crop_autogan.npy'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
