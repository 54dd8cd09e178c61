"""Golden tests of clip_zeroshot on a tiny open_clip checkpoint built by the test."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import open_clip
import torch

from forensics import SignalUnavailableError, WeightsError, load_image
from forensics.signals import clip as clip_mod
from forensics.signals.clip import ClipZeroShotSignal, load_prompts
from forensics.signals.neural import preprocess
from forensics.weights.install import add, spec
from forensics.weights.spec import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from support.images import encode, natural_rgb
from support.neural_checkpoints import TINY_CLIP_CFG, tiny_clip, tiny_clip_checkpoint

SPEC = replace(spec("clip_vit_b32_openai"), name="tiny_clip", file="open_clip_pytorch_model.bin",
               model_cfg=TINY_CLIP_CFG, repo=None, revision=None)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("clip")
    ckpt, ref = tiny_clip_checkpoint(base / "tiny" / "open_clip_pytorch_model.bin")
    root = base / "home"
    side = add("tiny_clip", ckpt.parent, root=root, weight_spec=SPEC)
    return {"root": root, "ckpt": ckpt, "ref": ref, "side": side}


@pytest.fixture(scope="module")
def pictures():
    shapes = [(300, 400), (500, 240), (224, 224)]
    return [load_image(encode(natural_rgb(h, w, seed=10 + i), "JPEG", quality=90)) for i, (h, w) in enumerate(shapes)]


def signal(installed) -> ClipZeroShotSignal:
    return ClipZeroShotSignal(weights="tiny_clip", home=str(installed["root"]))


def openclip_preprocess():
    return open_clip.image_transform(224, is_train=False, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD)


def reference_scores(model, images):
    from PIL import Image

    tok = open_clip.get_tokenizer("ViT-B-32")
    prompts = load_prompts()["prompts"]
    with torch.inference_mode():
        x = torch.stack([openclip_preprocess()(Image.fromarray(im.rgb)) for im in images])
        img = torch.nn.functional.normalize(model.encode_image(x).double(), dim=-1)
        sims = {}
        for cls in ("ai", "real"):
            t = torch.nn.functional.normalize(model.encode_text(tok(prompts[cls])).double(), dim=-1)
            sims[cls] = (img @ t.T).mean(dim=1).numpy()
    return img.numpy(), sims


def test_sidecar_pins_openai_preprocessing_and_quick_gelu(installed):
    side = json.loads((installed["root"] / "weights" / "tiny_clip" / "sidecar.json").read_text())
    assert (side["resize_mode"], side["interpolation"], side["input_size"]) == ("shortest_crop", "bicubic", 224)
    assert side["mean"] == list(OPENAI_CLIP_MEAN) and side["std"] == list(OPENAI_CLIP_STD)
    assert side["quick_gelu"] is True
    assert side["text_embeddings"]["prompts_sha256"] == load_prompts()["sha256"]
    assert side["onnx"]["parity_max_abs"] <= 1e-4


def test_preprocessing_matches_open_clip(installed, pictures):
    from PIL import Image

    for im in pictures:
        ref = openclip_preprocess()(Image.fromarray(im.rgb)).numpy()
        np.testing.assert_allclose(preprocess(im.rgb, installed["side"]), ref, atol=1e-5)


def test_margin_and_embeddings_match_open_clip(installed, pictures):
    emb_ref, sims = reference_scores(installed["ref"], pictures)
    sig = signal(installed)
    emb = sig.embed(pictures)
    assert emb.dtype == np.float32 and emb.shape == (3, 32)
    np.testing.assert_allclose(emb, emb_ref, atol=1e-4)
    for r, s_ai, s_real in zip(sig.analyze_batch(pictures), sims["ai"], sims["real"]):
        assert r.status == "ok"
        assert r.score == pytest.approx(s_ai - s_real, abs=1e-4)
        assert r.evidence["sim_ai"] == pytest.approx(s_ai, abs=1e-4)
        assert r.evidence["prompts_sha256"] == load_prompts()["sha256"][:16]
        assert r.evidence["backend"] == "onnxruntime"


def test_thumbnail_abstains_within_a_batch(installed, pictures):
    from forensics import load_image

    tiny = load_image(np.zeros((20, 300, 3), np.uint8))
    results = signal(installed).analyze_batch([pictures[0], tiny, pictures[1]])
    assert [r.status for r in results] == ["ok", "abstained", "ok"]
    assert "at least 32" in results[1].reason
    solo = signal(installed).analyze_batch([pictures[1]])[0]
    assert results[2].score == pytest.approx(solo.score, abs=1e-6)  # order kept around the gap


def test_quick_gelu_matters(installed, pictures):
    """The same checkpoint under the standard GELU gives other embeddings: pinning is needed."""
    plain = tiny_clip(quick_gelu=False)
    plain.load_state_dict(torch.load(installed["ckpt"], weights_only=True))
    emb_plain, _ = reference_scores(plain, pictures)
    emb_quick, _ = reference_scores(installed["ref"], pictures)
    ours = signal(installed).embed(pictures)
    off, on = np.abs(ours - emb_plain).max(), np.abs(ours - emb_quick).max()
    assert off > 1e-4 and off > 20 * on


def test_prompt_hash_and_change_detection(installed, monkeypatch, tmp_path):
    data = json.loads(clip_mod.PROMPTS.read_text())
    (tmp_path / "compact.json").write_text(json.dumps(data, indent=None))
    assert load_prompts(tmp_path / "compact.json")["sha256"] == load_prompts()["sha256"]
    assert signal(installed).fingerprint()["prompts_sha256"] == load_prompts()["sha256"]
    data["prompts"]["ai"][0] = "a picture made by a computer"
    (tmp_path / "edited.json").write_text(json.dumps(data))
    monkeypatch.setattr(clip_mod, "PROMPTS", tmp_path / "edited.json")
    sig = signal(installed)
    assert not sig.availability().ok and "prompt set changed" in sig.availability().reason
    assert sig.analyze(load_image(natural_rgb(64, 64))).status == "unavailable"


def test_strict_loading_and_refusals(installed, tmp_path):
    state = torch.load(installed["ckpt"], weights_only=True)
    del state["visual.proj"]
    torch.save(state, tmp_path / "open_clip_pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"missing 1 key\(s\): visual.proj"):
        add("tiny_clip", tmp_path, root=tmp_path / "home", weight_spec=SPEC)
    with pytest.raises(WeightsError, match="quick_gelu must be pinned"):
        add("tiny_clip", installed["ckpt"], root=tmp_path / "home", weight_spec=replace(SPEC, quick_gelu=None))


def test_unavailable_without_weights(tmp_path):
    sig = ClipZeroShotSignal(home=str(tmp_path))
    assert "`forensics weights download clip_vit_b32_openai`" in sig.availability().reason
    with pytest.raises(SignalUnavailableError, match="forensics weights add clip_vit_b32_openai PATH"):
        sig.embed([load_image(natural_rgb(64, 64))])


def probe_folders(tmp_path):
    """Reals: smooth scenes. 'Fakes': the same scenes with a hard periodic 8-px pattern, which
    the tiny random CLIP's patch embedding sees (its zero-shot prompts do not)."""
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir()
    fake.mkdir()
    yy, xx = np.mgrid[0:160, 0:200]
    pattern = (((yy // 8) + (xx // 8)) % 2 * 60).astype(np.int16)[..., None]
    for i in range(14):
        arr = natural_rgb(160, 200, seed=100 + i)
        (real / f"{i:02d}.png").write_bytes(encode(arr, "PNG"))
        (fake / f"{i:02d}.png").write_bytes(encode(np.clip(arr.astype(np.int16) + pattern, 0, 255).astype(np.uint8), "PNG"))
    return real, fake


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
def test_clip_probe_calibration_end_to_end(installed, tmp_path):
    from forensics import CalibrationError, Engine
    from forensics.calibration import Calibration, fit_calibration

    real, fake = probe_folders(tmp_path)
    cal = fit_calibration(real, fake, target_fpr=0.1, signals=[signal(installed)], probe=True)
    assert cal.probe is not None and cal.probe.coef.shape == (32,)
    assert cal.probe.data == {"n_real": 14, "n_fake": 14}
    assert cal.metrics["probe_held_out"]["auroc"] > 0.9  # out-of-fold, from probes that did not see the image
    assert "clip_probe" in cal.metrics["fitted_features"]
    assert cal.fusion.features_["clip_probe"].kind == "fitted"

    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    engine = Engine([signal(installed)], calibration=again)
    yy, xx = np.mgrid[0:160, 0:200]
    new_fake = np.clip(natural_rgb(160, 200, seed=999).astype(np.int16)
                       + (((yy // 8) + (xx // 8)) % 2 * 60)[..., None], 0, 255).astype(np.uint8)
    a = engine.analyze(encode(new_fake, "PNG"))
    line = a.signal("clip_probe")
    assert line.result.status == "ok" and line.in_fusion and line.calibrated
    assert line.result.score == pytest.approx(again.probe.score(a.signal("clip_zeroshot").result.features))
    assert a.intercept + sum(s.contribution for s in a.signals) == pytest.approx(a.logit, abs=1e-9)
    b = Engine([signal(installed)], calibration=cal).analyze(encode(new_fake, "PNG"))
    assert b.probability == a.probability  # the JSON round trip changes nothing
    from forensics.analysis import validate_row

    validate_row(a.to_dict())
    tiny = engine.analyze(encode(np.zeros((16, 16, 3), np.uint8), "PNG"))
    assert tiny.signal("clip_probe").result.status == "abstained"  # CLIP abstained: so does its probe
    assert [s.name for s in tiny.not_run] == []  # abstentions are not failures

    broken = json.loads(json.dumps(cal.to_dict()))
    broken["probe"] = None  # a fusion that expects clip_probe, without the probe
    with pytest.raises(CalibrationError, match="the fusion has a clip_probe feature but the file has no probe"):
        Calibration.from_dict(broken)


def test_clip_probe_needs_fakes_and_clip(installed, tmp_path):
    from forensics.calibration import fit_calibration
    from forensics.errors import CalibrationError

    real, fake = probe_folders(tmp_path)
    with pytest.raises(CalibrationError, match="pass fake images too"):
        fit_calibration(real, probe=True, signals=[signal(installed)])
    missing = ClipZeroShotSignal(weights="tiny_clip", home=str(tmp_path / "nowhere"))
    with pytest.raises(CalibrationError, match="the CLIP probe needs the clip_zeroshot signal: no weights"):
        fit_calibration(real, fake, probe=True, signals=[missing])


def test_a_reinstall_that_cannot_move_in_keeps_the_old_install(tmp_path, monkeypatch):
    import os

    from forensics.weights.store import read_sidecar, weights_dir

    ckpt, _ = tiny_clip_checkpoint(tmp_path / "tiny" / "open_clip_pytorch_model.bin")
    root = tmp_path / "home"
    first = add("tiny_clip", ckpt.parent, root=root, weight_spec=SPEC)
    target = weights_dir("tiny_clip", root)
    rename = os.rename

    def refuse_new_folder(src, dst, *args, **kwargs):  # the new install fails to move in
        if os.fspath(dst) == os.fspath(target) and "-old-" not in os.fspath(src):
            raise OSError(28, "No space left on device")
        return rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", refuse_new_folder)
    with pytest.raises(OSError, match="No space left"):
        add("tiny_clip", ckpt.parent, root=root, weight_spec=SPEC)
    monkeypatch.setattr(os, "rename", rename)
    assert read_sidecar("tiny_clip", root)["created"] == first["created"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["tiny_clip"]  # nothing left aside

