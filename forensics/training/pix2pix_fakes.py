"""Image-to-image GAN fakes we make ourselves: a small pix2pix trained on CPU on the real photos, for ``forensics.training.probe_fakes``.

    python -m forensics.training.pix2pix_fakes --cache CACHE --out FAKES [--steps 1500] [--threads 2]

The held-out image-to-image GANs (pix2pix, CycleGAN, AnimeGAN) rank at or below the photos, and
the fakes made from reals so far come from autoencoders trained with an L1 loss alone
(``autogan_fakes``, ``taesd_fakes``): what an adversarial loss teaches a generator to draw is not
in them. This is pix2pix (Isola et al. 2017) on the reals' own content: a U-Net generator
(4x4 stride-2 convolutions down, 4x4 stride-2 transposed convolutions up with skip connections,
instance normalisation, tanh out; 16-32-64-128-128-128-128 channels, seven levels) learns to
draw a real photo from a degraded copy of it (luminance only, reduced 4x by box means and
brought back bilinearly: it must invent the colour and the fine texture), against a
conditional PatchGAN discriminator (three 4x4 stride-2 layers, 16-32-64 channels, then two
stride-1 layers; 70-px receptive field) with pix2pix's loss: non-saturating GAN plus 100 x L1.
Adam 2e-4 (beta1 0.5), batch 8 of random 128-px patches of the fit-split real photos' ``aug``
crops (``forensics.training.pixel_data``), flipped at random; a fixed number of steps and a fixed
seed, one thread count: the same machine gives the same network.

Writes ``FAKES/pix2pix_net.npz`` (the generator's tensors, numpy: no pickle) and
``FAKES/pix2pix.json`` (the settings and the losses). ``probe_fakes`` draws its ``pix2pix_frame256``
set with :func:`translate`: each real photo's 256-px whole frame (the GAN outputs' size) redrawn
from its degraded copy, so that the fake and its real differ only in what the generator drew.
Neither images nor networks are committed.
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

from forensics.training.autogan_fakes import fit_reals

PATCH = 128
WIDTHS = (16, 32, 64, 128, 128, 128, 128)  # the U-Net's levels: 128 px -> 1 px
D_WIDTHS = (16, 32, 64)
REDUCE = 4
L1_WEIGHT = 100.0
SEED = 0
STEPS = 1500
BATCH = 8


def degrade(x: torch.Tensor) -> torch.Tensor:
    """The generator's input: the luminance of ``x`` (N, 3, H, W in [-1, 1]) reduced REDUCE x by
    box means and brought back bilinearly, repeated over three channels."""
    lum = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:])
    small = F.avg_pool2d(lum, REDUCE)
    return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)


class UNet(nn.Module):
    """pix2pix's U-Net generator (instance norm, no dropout: the same input gives the same image)."""

    def __init__(self):
        super().__init__()
        self.down = nn.ModuleList()
        ci = 3
        for k, co in enumerate(WIDTHS):
            last = k == len(WIDTHS) - 1
            layers = [nn.Conv2d(ci, co, 4, stride=2, padding=1)]
            layers += [] if k == 0 or last else [nn.InstanceNorm2d(co)]
            self.down.append(nn.Sequential(*layers))
            ci = co
        self.up = nn.ModuleList()
        for k in range(len(WIDTHS) - 1, -1, -1):
            cin = WIDTHS[k] * (1 if k == len(WIDTHS) - 1 else 2)
            co = 3 if k == 0 else WIDTHS[k - 1]
            layers = [nn.ReLU(True), nn.ConvTranspose2d(cin, co, 4, stride=2, padding=1)]
            layers += [nn.Tanh()] if k == 0 else [nn.InstanceNorm2d(co)]
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, layer in enumerate(self.down):
            x = layer(x if k == 0 else F.leaky_relu(x, 0.2))
            skips.append(x)
        skips.pop()
        for layer in self.up:
            x = layer(x)
            if skips:
                x = torch.cat([x, skips.pop()], 1)
        return x


class PatchGAN(nn.Module):
    """pix2pix's conditional 70-px PatchGAN discriminator: (input, image) -> a logit per patch."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        ci = 6
        for k, co in enumerate(D_WIDTHS):
            layers += [nn.Conv2d(ci, co, 4, stride=2, padding=1)] + ([nn.InstanceNorm2d(co)] if k else [])
            layers += [nn.LeakyReLU(0.2, True)]
            ci = co
        layers += [nn.Conv2d(ci, 2 * ci, 4, padding=1), nn.InstanceNorm2d(2 * ci), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(2 * ci, 1, 4, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, cond: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([cond, img], 1))


def to_signed(a: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.array(a, np.float32)).permute(0, 3, 1, 2).div_(127.5).sub_(1)


def train(crops, hw, idx, *, steps: int, log=print) -> tuple[UNet, list]:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    g, d = UNet(), PatchGAN()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    losses, t, acc = [], time.time(), np.zeros(3)
    for s in range(steps):
        b = np.sort(rng.choice(idx, BATCH))
        x = np.empty((BATCH, PATCH, PATCH, 3), np.uint8)
        for j, i in enumerate(b):
            ty, tx = rng.integers(0, hw[i][0] - PATCH + 1), rng.integers(0, hw[i][1] - PATCH + 1)
            x[j] = crops[i, ty:ty + PATCH, tx:tx + PATCH][:, ::-1 if rng.random() < 0.5 else 1]
        real = to_signed(x)
        cond = degrade(real)
        fake = g(cond)
        pr, pf = d(cond, real), d(cond, fake.detach())
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(pr, torch.ones_like(pr))
                        + F.binary_cross_entropy_with_logits(pf, torch.zeros_like(pf)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        pg = d(cond, fake)
        loss_gan = F.binary_cross_entropy_with_logits(pg, torch.ones_like(pg))
        loss_l1 = F.l1_loss(fake, real)
        opt_g.zero_grad()
        (loss_gan + L1_WEIGHT * loss_l1).backward()
        opt_g.step()
        acc += (loss_d.item(), loss_gan.item(), loss_l1.item())
        if (s + 1) % 50 == 0:
            losses.append([s + 1, *np.round(acc / 50, 4).tolist()])
            log(f"step {s + 1}: D {acc[0] / 50:.3f} G {acc[1] / 50:.3f} L1 {acc[2] / 50:.4f} ({time.time() - t:.0f} s)")
            t, acc = time.time(), np.zeros(3)
    return g.eval(), losses


def translate(net: UNet, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (H, W, 3 uint8; H and W multiples of 128) redrawn by ``net`` from its degraded copy."""
    with torch.no_grad():
        y = net(degrade(to_signed(rgb[None])))[0]
    return ((y.permute(1, 2, 0).numpy() + 1) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)


def load(fakes: Path) -> UNet:
    """The generator this script wrote to ``FAKES/pix2pix_net.npz``."""
    kept = fakes / "pix2pix_net.npz"
    if not kept.is_file():
        raise SystemExit(f"{kept} does not exist: run python -m forensics.training.pix2pix_fakes --cache CACHE --out {fakes}")
    net = UNet()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(kept).items()})
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="what forensics.training.pixel_data wrote (read only)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the network (outside the repository and CACHE)")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.out.resolve() == args.cache.resolve():
        ap.error("--out must not be the cache: the cache is read only")
    torch.set_num_threads(args.threads)
    rows = json.loads((args.cache / "rows.json").read_text())
    hw = [r.get("crop_hw", {}).get("aug", (0, 0)) for r in rows]
    idx = np.array([i for i in fit_reals(rows) if min(hw[i]) >= PATCH])
    print(f"{len(idx)} real photos; pix2pix, {args.steps} steps", flush=True)
    t0 = time.time()
    g, losses = train(np.load(args.cache / "crop_aug.npy", mmap_mode="r"), hw, idx, steps=args.steps,
                      log=lambda m: print(m, flush=True))
    minutes = (time.time() - t0) / 60
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "pix2pix_net.npz", **{k: v.numpy() for k, v in g.state_dict().items()})
    (args.out / "pix2pix.json").write_text(json.dumps(
        {"patch": PATCH, "widths": WIDTHS, "d_widths": D_WIDTHS, "reduce": REDUCE, "l1_weight": L1_WEIGHT, "steps": args.steps,
         "batch": BATCH, "seed": SEED, "threads": args.threads, "real_photos": len(idx), "minutes": round(minutes, 1),
         "parameters": int(sum(p.numel() for p in g.parameters())), "torch": torch.__version__, "losses": losses}) + "\n")
    print(f"wrote {args.out / 'pix2pix_net.npz'} ({minutes:.1f} min of training)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
