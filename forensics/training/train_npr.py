"""Train the ``npr`` signal's small network from scratch on CPU and export it to ONNX.

    python -m forensics.training.train_npr --cache CACHE [--oof] [--recipes [taesd] [autogan] [pix2pix]] [--net {npr,local}] [--epochs 4]

CACHE is what ``forensics.training.pixel_data`` (and, for the fakes made from reals,
``forensics.training.taesd_fakes``, ``autogan_fakes`` and ``pix2pix_fakes``) wrote. Training draws 96-px
patches (random position and horizontal flip) from the ``aug`` crops, with class- and
family-balanced sampling (``folds.sample_weights``); the corpus's holdout half is never
used. Fakes made from the reals join the fakes, each recipe weighed as one family, in the fold
of the real source they came from, with the content held fixed: real photos passed through the
tiny FLUX.2 autoencoder (``taesd``: latent-decoder traces) and through an autoencoder with a GAN
generator's up-sampling decoder (``autogan``: up-sampling traces); and whole frames at 256 x 256
redrawn by a small pix2pix, beside the frames themselves as reals (``pix2pix``: an adversarially
trained generator's traces, the pair differing in nothing else; :func:`recipe_sets`). ``--recipes``
picks them; the default is the shipped network's, ``SHIPPED``.

``--oof`` first trains one network per family fold and scores the held-out fold's crops of every
evaluation condition into ``CACHE/oof_npr.npz`` (``oof_npr_<recipes>.npz``, ``oof_npr_none.npz``
for another choice of recipes: the ablations; ``oof_local_<recipes>.npz`` for ``--net local``, a
LaDeDa-style network with a 9-px receptive field, tried and not shipped: docs/pixels.md) for the
fusion and the evaluation. With the
shipped recipes it then trains on every row and writes ``signals/data/npr.onnx`` and
``signals/data/npr.json``. Deterministic for a fixed
seed on one machine: torch's CPU kernels with ``--threads`` threads (default 2).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from forensics.signals.npr import MIN_SIDE
from forensics.training.corpus import REPO
from forensics.training.folds import family_folds, sample_weights
from forensics.training.pixel_data import CROPS

PATCH = 96
RECIPES = ("taesd", "autogan", "pix2pix")  # fakes made from the reals: forensics.training.{taesd,autogan,pix2pix}_fakes
#: the recipes of the shipped network (what each adds, family by family: docs/evaluation.md)
SHIPPED = ("taesd", "autogan")
EVAL_CROPS = tuple(c for c in CROPS if c != "aug")
SEED = 0
DATA = REPO / "signals" / "data"


class NPRNet(nn.Module):
    """``x - up2(down2(x))`` (nearest), six 3x3 conv + BN + ReLU layers (stride 8 overall) and a
    1x1 layer: a logit per 8-px cell. BN folds into the convolutions on export."""

    def __init__(self, width: int = 24):
        super().__init__()
        c = [3, width, width, 2 * width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for i in range(6):
            layers += [nn.Conv2d(c[i], c[i + 1], 3, stride=2 if i % 2 else 1, padding=1, bias=False),
                       nn.BatchNorm2d(c[i + 1]), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c[-1], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, 3, h, w) in [0, 1], h and w even -> (n, 1, h/8, w/8)
        d = F.interpolate(x, scale_factor=0.5, mode="nearest")
        npr = x - F.interpolate(d, scale_factor=2.0, mode="nearest")
        return self.head(self.body(npr * 4.0))


class LocalNet(nn.Module):
    """A patch-level detector in the spirit of LaDeDa (Cavia et al. 2024): a fixed diagonal
    gradient, then mostly 1x1 layers with two 3x3 stride-2 convolutions (receptive field 9 px per
    position), positions averaged 2x2: a logit per 8-px cell, as ``NPRNet`` gives."""

    def __init__(self, width: int = 24):
        super().__init__()
        diag = torch.tensor([[0.0, 1, 2], [-1, 0, 1], [-2, -1, 0]]) / 4
        self.register_buffer("grad", diag.expand(3, 1, 3, 3).clone())
        w = width

        def block(i, o, k=1, s=1):
            return [nn.Conv2d(i, o, k, stride=s, padding=k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*block(3, w), *block(w, w, 3, 2), *block(w, 2 * w), *block(2 * w, 2 * w, 3, 2),
                                  *block(2 * w, 4 * w), *block(4 * w, 4 * w), nn.AvgPool2d(2))
        self.head = nn.Conv2d(4 * w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, 3, h, w) in [0, 1], h and w divisible by 8 -> (n, 1, h/8, w/8)
        g = F.conv2d(x, self.grad, padding=1, groups=3)
        return self.head(self.body(g * 16.0))


NETS = {"npr": NPRNet, "local": LocalNet}


def patches(crops, idx, hw, rng):
    x = np.empty((len(idx), PATCH, PATCH, 3), np.uint8)
    for j, i in enumerate(idx):
        ty = rng.integers(0, hw[i][0] - PATCH + 1)
        tx = rng.integers(0, hw[i][1] - PATCH + 1)
        p = crops[i, ty:ty + PATCH, tx:tx + PATCH]
        x[j] = p[:, ::-1] if rng.random() < 0.5 else p
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255)


def train(crops, y, weights, idx, hw, *, epochs: int, bs: int = 64, lr: float = 2e-3, log=print, net_name: str = "npr") -> nn.Module:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    net = NETS[net_name]()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = len(idx) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    p = weights[idx] / weights[idx].sum()
    for ep in range(epochs):
        net.train()
        draw = rng.choice(idx, size=steps * bs, replace=True, p=p)
        t, total = time.time(), 0.0
        for s in range(steps):
            b = np.sort(draw[s * bs:(s + 1) * bs])
            loss = F.binary_cross_entropy_with_logits(net(patches(crops, b, hw, rng)).mean(dim=(1, 2, 3)),
                                                      torch.from_numpy(y[b]).float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        log(f"epoch {ep}: loss {total / steps:.4f} ({time.time() - t:.0f} s)")
    return net.eval()


@torch.no_grad()
def score(net: NPRNet, crops, idx, hw, bs: int = 64) -> np.ndarray:
    """Mean cell logit of each crop on its valid region cut to even sides (as ``npr`` analyses)."""
    out = np.full(len(idx), np.nan)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for j, i in enumerate(idx):
        h, w = hw[i]
        by_shape.setdefault((h - h % 2, w - w % 2), []).append(j)
    for (h, w), js in by_shape.items():
        if min(h, w) < MIN_SIDE:  # the signal refuses images this small
            continue
        for s in range(0, len(js), bs):
            jj = js[s:s + bs]
            x = torch.from_numpy(np.stack([crops[idx[j], :h, :w] for j in jj])).permute(0, 3, 1, 2).float().div_(255)
            out[jj] = net(x).mean(dim=(1, 2, 3)).numpy()
    return out


def export(net: NPRNet, path: Path) -> float:
    """Export to ONNX; return the largest ONNX-torch difference on a seeded batch (refused above 1e-4)."""
    from forensics.artifacts import new_session

    torch.onnx.export(net.eval(), torch.rand(1, 3, 256, 256), str(path), input_names=["pixels"],
                      output_names=["logit_map"], opset_version=17, dynamo=False,
                      dynamic_axes={"pixels": {0: "n", 2: "h", 3: "w"}, "logit_map": {0: "n", 2: "gh", 3: "gw"}})
    net.eval()  # the exporter restores the mode it found; keep eval either way
    x = np.random.default_rng(0).random((2, 3, 200, 256), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    diff = float(np.abs(new_session(path, 1).run(None, {"pixels": x})[0] - ref).max())
    if diff > 1e-4:
        path.unlink()
        raise SystemExit(f"ONNX and torch differ by {diff:.2e} (> 1e-4); nothing written")
    return diff


def recipe_sets(cache: Path, recipe: str, rows: list[dict]):
    """``(family, label, material rows, uint8 images)`` of each set a recipe adds, every image in the
    fold of the real photo it was made from: ``taesd`` and ``autogan`` add their fakes (label 1);
    ``pix2pix`` adds the redrawn 256-px frames (1) and the frames themselves as reals (0), a pair
    that differs only in what the generator drew (``forensics.training.fake_features``' sets)."""
    if recipe == "pix2pix":
        from forensics.training.fake_features import set_images

        for name, label in (("pix2pix_frame256", 1.0), ("real_frame256", 0.0)):
            made = list(set_images(name, cache, rows))
            yield name, label, np.array([i for i, _, _ in made]), np.stack([a for _, _, a in made])
        return
    made = json.loads((cache / f"{recipe}.json").read_text())
    extra = np.array(sorted(int(i) for i in made["rows"]))
    yield recipe, 1.0, extra, np.load(cache / f"crop_{recipe}.npy", mmap_mode="r")[extra]  # (m, size, size, 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--net", choices=NETS, default="npr", help="the network (npr: the shipped one; any other is an ablation)")
    ap.add_argument("--oof", action="store_true", help="also train one network per family fold and score the held-out fold")
    ap.add_argument("--recipes", choices=RECIPES, nargs="*", default=list(SHIPPED),
                    help=f"fakes made from reals to train with (default: the shipped {', '.join(SHIPPED)}; "
                         "any other choice is an ablation and writes no model)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = json.loads((args.cache / "rows.json").read_text())
    n = len(rows)
    ok = np.array(["error" not in r for r in rows])
    trainable = ok & np.array([r["split"] == "fit" and min(r["crop_hw"]["aug"]) >= PATCH if "crop_hw" in r else False
                               for r in rows])
    y = np.array([r["label"] == "ai" for r in rows], np.float32)
    fold = family_folds(rows)
    hw = [r.get("crop_hw", {}).get("aug", (0, 0)) for r in rows]
    crops = np.load(args.cache / "crop_aug.npy")
    fam = [r["family"] for r in rows]
    recipes = [r for r in RECIPES if r in args.recipes]
    shipped = sorted(recipes) == sorted(SHIPPED) and args.net == "npr"
    made_from_reals = 0
    for recipe in recipes:
        if not (args.cache / f"{recipe}.json").is_file():
            raise SystemExit(f"no {recipe} fakes in {args.cache}: run the {recipe}_fakes stage first (python -m forensics.training --from {recipe}_fakes)")
        for name, label, extra, images in recipe_sets(args.cache, recipe, rows):
            added = np.zeros((len(extra),) + crops.shape[1:], np.uint8)
            added[:, :images.shape[1], :images.shape[2]] = images
            crops = np.concatenate([crops, added])
            y = np.r_[y, np.full(len(extra), label, np.float32)]
            fam += [name] * len(extra)  # weighed as one family
            hw += [images.shape[1:3]] * len(extra)
            trainable = np.r_[trainable, trainable[extra]]
            fold = np.r_[fold, fold[extra]]
            made_from_reals += int(trainable[extra].sum())
    print(f"fakes made from reals: {', '.join(recipes) or 'none'}", flush=True)
    meta = [{"label": "ai" if v else "real", "family": f} for v, f in zip(y, fam)]
    if args.oof:
        evalc = {v: np.load(args.cache / f"crop_{v}.npy", mmap_mode="r") for v in EVAL_CROPS}
        res = {v: np.full(n, np.nan) for v in evalc}
        for k in range(fold.max() + 1):
            tr = np.flatnonzero(trainable & (fold != k))
            net = train(crops, y, sample_weights(meta, tr), tr, hw, epochs=args.epochs, net_name=args.net,
                        log=lambda m: print(f"fold {k}", m, flush=True))
            te = np.flatnonzero(ok & (fold[:n] == k))
            for v, c in evalc.items():
                res[v][te] = score(net, c, te, [r.get("crop_hw", {}).get(v, (0, 0)) for r in rows])
        name = "oof_npr" if shipped else f"oof_{args.net}_" + ("+".join(sorted(recipes)) or "none")
        np.savez(args.cache / f"{name}.npz", **res)
    if not shipped:
        return 0
    tr = np.flatnonzero(trainable)
    net = train(crops, y, sample_weights(meta, tr), tr, hw, epochs=args.epochs, log=lambda m: print("final", m, flush=True))
    onnx_path = DATA / "npr.onnx"
    diff = export(net, onnx_path)
    from forensics.artifacts import new_session
    from forensics.signals.npr import HEAD_FORMAT, HEAD_FORMAT_VERSION, network_input

    sess = new_session(onnx_path, 1)
    orig = np.load(args.cache / "crop_orig.npy", mmap_mode="r")
    ref = [i for cls in ("ai", "real") for i in
           [j for j, r in enumerate(rows) if ok[j] and r["path"].startswith("corpus/") and r["label"] == cls][:4]]
    refs = {}
    for i in ref:
        h, w = (s - s % 2 for s in rows[i]["crop_hw"]["orig"])
        cells = sess.run(None, {"pixels": network_input(np.ascontiguousarray(orig[i:i + 1, :h, :w]))})[0][:, 0].astype(np.float64)
        refs[rows[i]["path"].removeprefix("corpus/")] = float(cells[0].mean())
    head = {
        "format": HEAD_FORMAT, "format_version": HEAD_FORMAT_VERSION, "version": "1",
        "model": "NPR residual x - up2(down2(x)); 6 conv3x3+BN+ReLU (24-48-96 channels, stride 8); 1x1 logit per 8-px cell; "
                 "score = mean cell logit",
        "graph": {"file": onnx_path.name, "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
                  "parameters": int(sum(p.numel() for p in net.parameters())), "onnx_vs_torch": diff},
        "training": {"script": "forensics.training.train_npr", "seed": SEED, "epochs": args.epochs, "patch": PATCH,
                     "batch": 64, "optimiser": "AdamW lr 2e-3 one-cycle, weight decay 1e-4", "threads": args.threads,
                     "torch": torch.__version__, "images": {"ai": int(y[tr].sum()), "real": int(len(tr) - y[tr].sum())},
                     "fakes_made_from_reals": {"recipes": recipes, "images": made_from_reals}},
        "reference_scores": {"what": "scores of these corpus files as found (central crop); analysis must reproduce them "
                                     "bit for bit", "scores": refs},
    }
    (DATA / "npr.json").write_text(json.dumps(head, indent=1) + "\n")
    print(f"wrote {onnx_path} (sha256 {head['graph']['sha256'][:16]}; ONNX vs torch {diff:.1e}) and {DATA / 'npr.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
