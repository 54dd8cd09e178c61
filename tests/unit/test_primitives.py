"""The shared primitives: one suffix list, one sigmoid, one sha256_file, the fusion's sha256."""

import hashlib
import math

import numpy as np

from forensics.batch.scan import expand_inputs
from forensics.calibration import expand_sources
from forensics.formats import IMAGE_SUFFIXES
from forensics.fusion import LogisticFusion, default_fusion
from forensics.hashing import sha256_file
from forensics.numeric import sigmoid


def test_scan_and_calibrate_walk_the_same_files(tmp_path):
    names = ["a.jpg", "b.JPEG", "c.jpe", "d.png", "e.webp", "f.tif", "g.heic", "h.avif", "notes.txt", "x.eps"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    walked = sorted(p.rsplit("/", 1)[1] for p in expand_inputs([str(tmp_path)]))
    assert walked == sorted(p.rsplit("/", 1)[1] for p in expand_sources(tmp_path))
    assert walked == ["a.jpg", "b.JPEG", "c.jpe", "d.png", "e.webp", "f.tif", "g.heic", "h.avif"]
    assert ".eps" not in IMAGE_SUFFIXES


def test_sigmoid_is_stable_for_floats_and_arrays():
    for x in (-800.0, -30.0, -1.5, 0.0, 2.0, 40.0, 800.0):
        expected = 1 / (1 + math.exp(-x)) if x > -700 else 0.0
        assert math.isclose(sigmoid(x), expected, rel_tol=1e-12, abs_tol=1e-300)
        assert isinstance(sigmoid(x), float)
    arr = sigmoid(np.array([-800.0, 0.0, 800.0]))
    assert arr.dtype == np.float64 and arr.tolist() == [0.0, 0.5, 1.0]


def test_sha256_file_and_the_fusion_sha256(tmp_path):
    data = bytes(range(256)) * 5000  # more than one read chunk
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f", chunk=1000) == hashlib.sha256(data).hexdigest()
    # the fusion's identity survives a save and load, and moves with any number in it
    fusion = default_fusion()
    fusion.save(tmp_path / "fusion.json")
    again = LogisticFusion.load(tmp_path / "fusion.json")
    assert again.sha256() == fusion.sha256() and len(fusion.sha256()) == 64
    data = fusion.to_dict()
    data["features"][0]["coef"] += 1e-9
    assert LogisticFusion.from_dict(data).sha256() != fusion.sha256()
    data = fusion.to_dict()
    data["intercept"] += 1e-9
    assert LogisticFusion.from_dict(data).sha256() != fusion.sha256()
