"""Image-to-image GAN fakes we make ourselves: a small pix2pix trained on CPU on the real photos, for the ``effnet_probe``.

    python -m forensics.training.pix2pix_fakes --cache CACHE [--steps 1500] [--threads 2]

The held-out image-to-image GANs (pix2pix, CycleGAN, AnimeGAN) rank at or below the photos, and
the fakes made from reals by the autoencoders (``autogan_fakes``, ``taesd_fakes``) come from
decoders trained with an L1 loss alone: what an adversarial loss teaches a generator to draw is
not in them. This is pix2pix (Isola et al. 2017) on the reals' own content: a U-Net generator
(4x4 stride-2 convolutions down, 4x4 stride-2 transposed convolutions up with skip connections,
instance normalisation, tanh out; 16-32-64-128-128-128-128 channels, seven levels) learns to
draw a real photo from a degraded copy of it (luminance only, reduced 4x by box means and
brought back bilinearly: it must invent the colour and the fine texture), against a
conditional PatchGAN discriminator (three 4x4 stride-2 layers, 16-32-64 channels, then two
stride-1 layers; 70-px receptive field) with pix2pix's loss: non-saturating GAN plus 100 x L1.
Adam 2e-4 (beta1 0.5), batch 8 of random 128-px patches of the fit-split real photos' ``aug``
crops (``forensics.training.pixel_data``), flipped at random; a fixed number of steps and a fixed
seed, one thread count: the same machine gives the same network.

Then each fit-split real photo whose central crop is 256 px (the rows ``autogan_fakes`` makes
fakes from) is brought whole to 256 x 256, the GAN outputs' size (:func:`frame`: short side to
256 px, bicubic, centre crop), and the generator redraws that frame from its degraded copy
(:func:`translate`), with the reals' final encoding: the fake and its real differ only in what
the generator drew, and size tells nothing.

Writes ``CACHE/frame256.npy`` (the frames, as made), ``CACHE/crop_pix2pix256.npy`` (their
redrawn fakes), both in the order of the rows listed in ``CACHE/pix2pix.json`` (with the
settings and the losses), and ``CACHE/pix2pix_net.npz`` (the generator's tensors, numpy: no
pickle). ``forensics.training.fake_features`` turns frames and fakes into the probe's training rows.

``forensics.training.probe_fakes`` and ``probe_upscaled`` train the same way other tasks
(:data:`TASKS`) and generator designs (:data:`ARCHS`: CycleGAN's ResNet generator with either
up-sampling, an ESRGAN-style upscaler) for their experiments.
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
from forensics.training.fakes import final_encoding

PATCH = 128
WIDTHS = (16, 32, 64, 128, 128, 128, 128)  # the U-Net's levels: 128 px -> 1 px
D_WIDTHS = (16, 32, 64)
REDUCE = 4
L1_WEIGHT = 100.0
SEED = 0
STEPS = 1500
BATCH = 8
GAN_SIZE = 256  # CycleGAN, pix2pix, StarGAN v2: the frames redrawn
NGF, RES_BLOCKS = 16, 6  # ResNetGen: 16-32-64 channels, six blocks at a quarter of the size


def reduced(x: torch.Tensor) -> torch.Tensor:
    """``x`` reduced REDUCE x by box means and brought back to its size bilinearly."""
    return F.interpolate(F.avg_pool2d(x, REDUCE), size=x.shape[-2:], mode="bilinear", align_corners=False)


def degrade(x: torch.Tensor) -> torch.Tensor:
    """The generator's input: the luminance of ``x`` (N, 3, H, W in [-1, 1]) reduced REDUCE x by
    box means and brought back bilinearly, repeated over three channels."""
    return reduced(0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]).expand(-1, 3, -1, -1)


def flatten(x: torch.Tensor) -> torch.Tensor:
    """A label-map-like input: ``x`` reduced REDUCE x by box means, brought back bilinearly and
    each channel quantised to four levels, flat regions of at most 64 colours with hard edges
    between them (as pix2pix's facades and maps draw photos from label maps): the generator must
    invent every texture."""
    return torch.round((reduced(x) + 1) * 1.5) / 1.5 - 1


#: redrawing task -> the generator's input made from the photo (``luma``: the shipped fakes'; ``flat``:
#: ``probe_fakes``' F; ``detail``: colour kept, detail under 4 px to invent, the x4 super-resolution
#: that ``probe_upscaled``'s learned upscaler is trained on)
TASKS = {"luma": degrade, "flat": flatten, "detail": reduced}


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


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(True),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGen(nn.Module):
    """CycleGAN's generator (Zhu et al. 2017; AnimeGAN's and StarGAN v2's are of its kind), narrowed:
    a reflection-padded 7x7 convolution, two stride-2 3x3 convolutions down, RES_BLOCKS residual
    blocks, two x2 up-samplings, a 7x7 convolution and tanh; instance norm, no skip connections.
    ``up``: ``tconv``, CycleGAN's 3x3 stride-2 transposed convolutions (uneven overlap: a
    checkerboard), or ``resize``, bilinear resizing then a 3x3 convolution (AnimeGAN v2's)."""

    def __init__(self, up: str = "tconv"):
        super().__init__()
        c = NGF
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, c, 7), nn.InstanceNorm2d(c), nn.ReLU(True)]
        for _ in range(2):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
            c *= 2
        layers += [ResBlock(c) for _ in range(RES_BLOCKS)]
        for _ in range(2):
            layers += ([nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1)] if up == "tconv" else
                       [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c, c // 2, 3, padding=1)])
            layers += [nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SRNet(nn.Module):
    """An ESRGAN-style x4 super-resolution generator (Wang et al. 2018; Real-ESRGAN and its kin are
    widely used to enlarge AI images), narrowed: the input reduced REDUCE x by box means
    (the low-resolution image), a 3x3 convolution, six residual blocks without normalisation at that
    size (scaled by 0.2), then two x2 nearest-neighbour up-samplings, each followed by a 3x3
    convolution and leaky ReLU, and two 3x3 convolutions out; tanh."""

    def __init__(self, c: int = 32):
        super().__init__()
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.ModuleList(nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2, True),
                                                nn.Conv2d(c, c, 3, padding=1)) for _ in range(6))
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2, True)]
        self.up = nn.Sequential(*layers, nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2, True), nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(F.avg_pool2d(x, REDUCE))
        for block in self.body:
            f = f + 0.2 * block(f)
        return torch.tanh(self.up(f))


#: generator design -> its constructor (``unet``: the shipped fakes'; the others experiments:
#: ``probe_fakes``' G and H, ``probe_upscaled``'s learned upscaler)
ARCHS = {"unet": UNet, "resnet": lambda: ResNetGen("tconv"), "resnet_resize": lambda: ResNetGen("resize"), "esrgan": SRNet}


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


def train(crops, hw, idx, *, steps: int, log=print, task: str = "luma", arch: str = "unet") -> tuple[nn.Module, list]:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    g, d = ARCHS[arch](), PatchGAN()
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
        cond = TASKS[task](real)
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


def translate(net: nn.Module, rgb: np.ndarray, task: str = "luma") -> np.ndarray:
    """``rgb`` (H, W, 3 uint8; H and W multiples of 128) redrawn by ``net`` from its input for ``task``."""
    with torch.no_grad():
        y = net(TASKS[task](to_signed(rgb[None])))[0]
    return ((y.permute(1, 2, 0).numpy() + 1) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)


def frame(file: str) -> np.ndarray:
    """The whole photo brought to GAN_SIZE x GAN_SIZE: short side to GAN_SIZE px (bicubic), centre crop."""
    from PIL import Image

    from forensics.image import load_image

    im = Image.fromarray(load_image(Path(file).read_bytes()).rgb)
    f = GAN_SIZE / min(im.size)
    im = im.resize((max(GAN_SIZE, round(im.width * f)), max(GAN_SIZE, round(im.height * f))), Image.BICUBIC)
    left, top = (im.width - GAN_SIZE) // 2, (im.height - GAN_SIZE) // 2
    return np.asarray(im.crop((left, top, left + GAN_SIZE, top + GAN_SIZE)))


def frame_rows(rows: list[dict]) -> list[int]:
    """The rows whose frames are redrawn: the fit-split real photos with a 256-px central crop."""
    return [i for i in fit_reals(rows) if min(rows[i]["crop_hw"]["orig"]) >= GAN_SIZE]


def fit_on_reals(cache: Path, rows: list[dict], *, steps: int = STEPS, task: str = "luma", arch: str = "unet",
                 log=print) -> tuple[nn.Module, list, int]:
    """The generator of design ``arch`` trained for ``task`` on the fit-split real photos' ``aug``
    crops in CACHE, its losses and the number of photos."""
    hw = [r.get("crop_hw", {}).get("aug", (0, 0)) for r in rows]
    idx = np.array([i for i in fit_reals(rows) if min(hw[i]) >= PATCH])
    log(f"{len(idx)} real photos; pix2pix ({task}, {arch}), {steps} steps")
    g, losses = train(np.load(cache / "crop_aug.npy", mmap_mode="r"), hw, idx, steps=steps, task=task, arch=arch, log=log)
    return g, losses, len(idx)


def save(net: nn.Module, path: Path) -> None:
    """The generator's tensors, numpy (no pickle)."""
    np.savez(path, **{k: v.numpy() for k, v in net.state_dict().items()})


def load(path: Path, arch: str = "unet") -> nn.Module:
    """A generator of design ``arch`` that :func:`save` wrote (this stage: ``CACHE/pix2pix_net.npz``, the U-Net)."""
    net = ARCHS[arch]()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in np.load(path).items()})
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="what forensics.training.pixel_data wrote")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = json.loads((args.cache / "rows.json").read_text())
    t0 = time.time()
    g, losses, photos = fit_on_reals(args.cache, rows, steps=args.steps, log=lambda m: print(m, flush=True))
    minutes = (time.time() - t0) / 60
    save(g, args.cache / "pix2pix_net.npz")
    made = frame_rows(rows)
    shape = (len(made), GAN_SIZE, GAN_SIZE, 3)
    frames = np.lib.format.open_memmap(args.cache / "frame256.npy", "w+", np.uint8, shape)
    fakes = np.lib.format.open_memmap(args.cache / "crop_pix2pix256.npy", "w+", np.uint8, shape)
    for k, i in enumerate(made):
        frames[k] = frame(rows[i]["file"])
        fakes[k] = final_encoding(translate(g, frames[k]), "pix2pix", rows[i]["path"])
        if k % 200 == 0:
            print(f"{k}/{len(made)}", flush=True)
    frames.flush()
    fakes.flush()
    (args.cache / "pix2pix.json").write_text(json.dumps(
        {"patch": PATCH, "widths": WIDTHS, "d_widths": D_WIDTHS, "reduce": REDUCE, "l1_weight": L1_WEIGHT, "steps": args.steps,
         "batch": BATCH, "seed": SEED, "threads": args.threads, "real_photos": photos, "minutes": round(minutes, 1),
         "parameters": int(sum(p.numel() for p in g.parameters())), "torch": torch.__version__, "losses": losses,
         "size": GAN_SIZE, "rows": made}) + "\n")
    print(f"wrote {len(made)} frames and their fakes ({minutes:.1f} min of training)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
