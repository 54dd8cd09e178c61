"""The training pipeline's labels and seeds (forensics.training.corpus, .seeds): one labels.csv
reader (forensics evaluate's), the corpus rows as the stages see them, and the hash seeds every
draw comes from, unchanged from the scripts the shipped models were fitted with."""

from __future__ import annotations

import hashlib

import pytest

from forensics.errors import ForensicsError
from forensics.training.corpus import family_of, labelled, read_corpus, split_of
from forensics.training.seeds import hash_seed

LABELS = """path,label,source,generator,licence,note
real/camera_0001.jpg,real,own,,CC0,
ai/sd1_laion_0000.png,ai,Extile1/stable-diffusion,stable-diffusion-1.x,OpenRAIL,
provenance/c2pa_0000.jpg,ai,c2pa,,MIT,a metadata test case
ai/sd1_laion_0001.png, AI ,Extile1/stable-diffusion,stable-diffusion-1.x,OpenRAIL,
"""


def test_labelled_reads_every_row_in_file_order(tmp_path):
    (tmp_path / "labels.csv").write_text(LABELS)
    rows = labelled(tmp_path)
    assert [r["path"] for r in rows] == ["real/camera_0001.jpg", "ai/sd1_laion_0000.png", "provenance/c2pa_0000.jpg",
                                         "ai/sd1_laion_0001.png"]
    assert rows[0] == {"path": "real/camera_0001.jpg", "file": str(tmp_path / "real/camera_0001.jpg"), "label": "real",
                       "source": "own", "generator": ""}
    assert rows[3]["label"] == "ai" and rows[3]["generator"] == "stable-diffusion-1.x"


def test_read_corpus_leaves_out_provenance_and_sorts_and_splits(tmp_path):
    (tmp_path / "labels.csv").write_text(LABELS)
    rows = read_corpus(tmp_path)
    assert [r["path"] for r in rows] == ["ai/sd1_laion_0000.png", "ai/sd1_laion_0001.png", "real/camera_0001.jpg"]
    assert [r["source"] for r in rows] == ["sd1_laion", "sd1_laion", "camera"]
    assert all(r["split"] == split_of(r["path"]) for r in rows)
    fit, holdout = ({r["path"] for r in read_corpus(tmp_path, s)} for s in ("fit", "holdout"))
    assert fit | holdout == {r["path"] for r in rows} and not fit & holdout


def test_a_bad_label_is_an_error_naming_the_line(tmp_path):
    (tmp_path / "labels.csv").write_text("path,label\na.png,maybe\n")
    with pytest.raises(ForensicsError, match=r"labels\.csv:2: label 'maybe' is not 'ai' or 'real'"):
        labelled(tmp_path)


def test_hash_seeds_are_the_scripts_draws():
    """Each caller's text and byte order give the numbers the old scripts computed inline
    (``int(sha256(...).hexdigest()[:n], 16)`` is big-endian, ``int.from_bytes(..., "little")`` not)."""
    text = "forensics-split-v1:ai/sd1_laion_0000.png"
    digest = hashlib.sha256(text.encode())
    assert hash_seed(text, 4, "big") == int(digest.hexdigest()[:8], 16)
    assert hash_seed(text, 8, "big") == int(digest.hexdigest()[:16], 16)
    assert hash_seed(text) == int.from_bytes(digest.digest()[:8], "little")
    assert hash_seed(text, 4) != hash_seed(text, 4, "big")
    assert split_of("ai/sd1_laion_0000.png") == ("fit" if int(digest.hexdigest()[:8], 16) % 2 == 0 else "holdout")


def test_family_of_reads_the_manifest_s_generator_and_the_pix2pix_folder():
    assert family_of("SDXL", "ai/x/a.png") == "sdxl"
    assert family_of("CycleGAN (maps map->aerial; facades label->photo) + pix2pix (facades label->photo)",
                     "ai/r/results/facades_pix2pix/test_latest/images/1_fake_B.png") == "pix2pix"
    with pytest.raises(KeyError):
        family_of("a generator nobody mapped", "ai/x.png")
