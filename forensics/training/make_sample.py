"""Write forensics/data/sample.jpg: a procedurally drawn landscape used by `forensics analyze --sample`.

It is made by this module (no photograph, no generator model), so the README's first command
has an image to analyse on a fresh machine. Run: python -m forensics.training.make_sample
"""

from __future__ import annotations

import numpy as np
import piexif
from PIL import Image

from forensics.training.corpus import REPO

OUT = REPO / "forensics" / "data" / "sample.jpg"


def main() -> int:
    rng = np.random.default_rng(20261122)
    h, w = 480, 640
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    sky = np.stack([0.45 + 0.3 * y, 0.62 + 0.25 * y, 0.95 - 0.1 * y], -1)
    ridge = 0.55 + 0.08 * np.sin(7 * x + 1.3) + 0.04 * np.sin(23 * x)
    ground = np.stack([0.25 + 0.1 * x, 0.45 - 0.15 * (y - ridge), 0.2 + 0 * x], -1)
    img = np.where((y > ridge)[..., None], ground, sky)
    img += rng.normal(0, 0.02, img.shape)  # sensor-like noise
    # the Software tag names the script that first drew it, so that the sample stays byte for byte
    exif = piexif.dump({"0th": {piexif.ImageIFD.Software: b"forensics scripts/make_sample.py"}})
    Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8)).save(OUT, quality=88, exif=exif)
    print(OUT, OUT.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
