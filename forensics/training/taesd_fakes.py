"""Latent-decoder fakes made from the real photos themselves, for ``forensics.training.train_npr``.

    python -m forensics.training.taesd_fakes --cache CACHE --taesd MIRROR/madebyollin+taesd/repo

Each real photo's central 128-px patch (as found) passes through the tiny FLUX.2 autoencoder of
the public repository madebyollin/taesd (MIT; ``taef2_encoder.pth`` and ``taef2_decoder.pth``,
the only weights whole in the snapshot), then gets the reals' final encoding, drawn the same
way: JPEG q60-100 (p 0.85) or lossless. Content stays fixed, so what separates the pair is the
decoder's up-sampling trace. The module ``taesd.py`` and the weights are read from the fetched
snapshot at run time with ``git show``; nothing of them is copied into this repository. The
weights load with ``torch.load(weights_only=True)`` (inside ``taesd.py``).

Writes ``CACHE/crop_taesd.npy`` (aligned with ``rows.json``; zeros for rows without a fake) and
``CACHE/taesd.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

from forensics.training.fakes import final_encoding

SIZE = 128
VARIANT = "taef2"


def load_taesd(gitdir: Path):
    def show(name: str) -> bytes:
        return subprocess.run(["git", f"--git-dir={gitdir}", "show", f"HEAD:{name}"], capture_output=True, check=True).stdout

    module = types.ModuleType("taesd_snapshot")
    exec(compile(show("taesd.py").decode(), "taesd.py", "exec"), module.__dict__)
    tmp = Path(tempfile.mkdtemp())
    for part in ("encoder", "decoder"):
        (tmp / f"{VARIANT}_{part}.pth").write_bytes(show(f"{VARIANT}_{part}.pth"))
    return module.TAESD(str(tmp / f"{VARIANT}_encoder.pth"), str(tmp / f"{VARIANT}_decoder.pth")).eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--taesd", type=Path, required=True, help="git dir of the fetched madebyollin/taesd snapshot")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = json.loads((args.cache / "rows.json").read_text())
    crops = np.load(args.cache / "crop_orig.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(args.cache / "crop_taesd.npy", "w+", np.uint8, (len(rows), SIZE, SIZE, 3))
    model = load_taesd(args.taesd)
    idx = [i for i, r in enumerate(rows) if r["label"] == "real" and "error" not in r and r["split"] == "fit"
           and min(r["crop_hw"]["orig"]) >= 256]
    lo = (256 - SIZE) // 2
    for n, i in enumerate(idx):
        x = torch.from_numpy(np.ascontiguousarray(crops[i, lo:lo + SIZE, lo:lo + SIZE])).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            y = model.decoder(model.encoder(x)).clamp(0, 1)
        rec = (y[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        out[i] = final_encoding(rec, "taesd", rows[i]["path"])
        if n % 200 == 0:
            print(f"{n}/{len(idx)}", flush=True)
    out.flush()
    (args.cache / "taesd.json").write_text(json.dumps({"variant": VARIANT, "size": SIZE, "rows": idx}))
    print(f"wrote {len(idx)} reconstructions to {args.cache / 'crop_taesd.npy'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
