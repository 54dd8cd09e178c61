"""GAN fakes we make ourselves: small DCGANs trained on CPU on the real photos, for ``forensics.training.probe_fakes``.

    python -m forensics.training.dcgan_fakes --cache CACHE --out FAKES --variant {tconv,nearest,bilinear} [--steps N] [--count 300]

The training material's GAN images are few, of a few subjects, and all 256-1024 px PNGs; these
fakes add GAN generators' up-sampling traces on the reals' own content. Each variant is a
DCGAN (Radford et al. 2016) that draws 128-px images from a 64-value noise vector: a 4x4
start, then five up-samplings of x2 (256-128-64-32-16 channels, BN and ReLU, tanh out), each
one of

* ``tconv``: a 4x4 stride-2 transposed convolution (DCGAN's own: checkerboard traces);
* ``nearest``: nearest-neighbour up-sampling then a 3x3 convolution;
* ``bilinear``: bilinear up-sampling then a 3x3 convolution.

The discriminator mirrors it (4x4 stride-2 convolutions, BN, leaky ReLU). Both train with the
non-saturating loss, Adam 2e-4 (beta1 0.5), batch 32, on the fit-split real photos of CACHE
(``forensics.training.pixel_data``): each one's central 256-px crop as found, halved by 2x2 means to
128 px (the whole crop, as GAN datasets resize their photos), flipped at random. One thread,
a fixed number of steps (by default about 10 minutes of one core), a fixed seed: the
same machine gives the same images.

Then ``--count`` images are drawn (the generator in evaluation mode, noise from the seed) and
written as PNGs, ``FAKES/dcgan_<variant>/NNNN.png``, with ``FAKES/dcgan_<variant>.json`` (the
settings and the losses). They stay 128 px: the pipeline takes a small PNG as it is (no
up-scaling; ``aug`` resizes it x0.5-1.5), so the probe sees them smaller than most reals
(``probe_fakes.py --size-check`` measures what size alone explains). The images are never
committed.
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
from PIL import Image

from forensics.training.fakes import halve

SIZE = 128
NOISE = 64
WIDTH = 256  # channels after the 4x4 start; halved at each up-sampling
UPS = 5      # 4 px -> 128 px
SEED = 0
VARIANTS = ("tconv", "nearest", "bilinear")
#: default steps: about 10 minutes of one core each (an up-sampling then a 3x3 convolution costs
#: about twice a transposed convolution)
STEPS = {"tconv": 800, "nearest": 400, "bilinear": 400}


def up(variant: str, ci: int, co: int) -> list[nn.Module]:
    if variant == "tconv":
        return [nn.ConvTranspose2d(ci, co, 4, stride=2, padding=1, bias=False)]
    return [nn.Upsample(scale_factor=2, mode=variant), nn.Conv2d(ci, co, 3, padding=1, bias=False)]


class Generator(nn.Module):
    def __init__(self, variant: str):
        super().__init__()
        layers: list[nn.Module] = [nn.ConvTranspose2d(NOISE, WIDTH, 4, bias=False), nn.BatchNorm2d(WIDTH), nn.ReLU(True)]
        c = WIDTH
        for k in range(UPS):
            last = k == UPS - 1
            co = 3 if last else c // 2
            layers += up(variant, c, co)
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(co), nn.ReLU(True)]
            c = co
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        chans = [3] + [WIDTH >> k for k in range(UPS - 1, -1, -1)]  # 3, 16, 32, 64, 128, 256
        layers: list[nn.Module] = []
        for k, (ci, co) in enumerate(zip(chans, chans[1:])):
            layers += [nn.Conv2d(ci, co, 4, stride=2, padding=1, bias=k == 0)]
            layers += ([nn.BatchNorm2d(co)] if k else []) + [nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers, nn.Conv2d(chans[-1], 1, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def real_photos(cache: Path) -> np.ndarray:
    """``(n, 128, 128, 3)`` uint8: each fit-split real photo's central 256-px crop halved."""
    rows = json.loads((cache / "rows.json").read_text())
    crops = np.load(cache / "crop_orig.npy", mmap_mode="r")
    idx = [i for i, r in enumerate(rows) if r["label"] == "real" and "error" not in r and r["split"] == "fit"
           and min(r["crop_hw"]["orig"]) >= 2 * SIZE]
    out = np.empty((len(idx), SIZE, SIZE, 3), np.uint8)
    for j, i in enumerate(idx):
        out[j] = halve(np.asarray(crops[i]))
    return out


def train(photos: np.ndarray, variant: str, steps: int, bs: int = 32, log=print) -> tuple[Generator, list]:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    g, d = Generator(variant), Discriminator()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(bs), torch.zeros(bs)
    losses, t, acc = [], time.time(), np.zeros(2)
    for s in range(steps):
        b = photos[rng.integers(0, len(photos), bs)]
        flip = rng.random(bs) < 0.5
        b[flip] = b[flip, :, ::-1]
        x = torch.from_numpy(b).permute(0, 3, 1, 2).float().div_(127.5).sub_(1)
        fake = g(torch.randn(bs, NOISE))
        loss_d = (F.binary_cross_entropy_with_logits(d(x), ones)
                  + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(d(fake), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        acc += (loss_d.item(), loss_g.item())
        if (s + 1) % 50 == 0:
            losses.append([s + 1, *np.round(acc / 50, 4).tolist()])
            log(f"step {s + 1}: loss D {acc[0] / 50:.3f} G {acc[1] / 50:.3f} ({time.time() - t:.0f} s)")
            t, acc = time.time(), np.zeros(2)
    return g.eval(), losses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="what forensics.training.pixel_data wrote (read only)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the fakes (outside the repository and CACHE)")
    ap.add_argument("--variant", choices=VARIANTS, required=True)
    ap.add_argument("--steps", type=int, help="training steps (default: STEPS, about 10 minutes of one core)")
    ap.add_argument("--count", type=int, default=300)
    args = ap.parse_args(argv)
    if args.out.resolve() == args.cache.resolve():
        ap.error("--out must not be the cache: the cache is read only")
    torch.set_num_threads(1)
    args.steps = args.steps or STEPS[args.variant]
    photos = real_photos(args.cache)
    print(f"{len(photos)} real photos; DCGAN {args.variant}, {args.steps} steps", flush=True)
    t0 = time.time()
    g, losses = train(photos, args.variant, args.steps, log=lambda m: print(m, flush=True))
    minutes = (time.time() - t0) / 60
    folder = args.out / f"dcgan_{args.variant}"
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for start in range(0, args.count, 50):
            z = torch.randn(min(50, args.count - start), NOISE, generator=gen)
            ims = ((g(z) + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
            for j, im in enumerate(ims):
                Image.fromarray(im).save(folder / f"{start + j:04d}.png")
    (args.out / f"dcgan_{args.variant}.json").write_text(json.dumps(
        {"variant": args.variant, "size": SIZE, "count": args.count, "steps": args.steps, "batch": 32, "seed": SEED,
         "real_photos": len(photos), "minutes": round(minutes, 1), "torch": torch.__version__, "losses": losses}) + "\n")
    print(f"wrote {args.count} images to {folder} ({minutes:.1f} min of training)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
