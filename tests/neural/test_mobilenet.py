"""Golden tests of sumsub_sd5 on a locally built checkpoint in Sumsub's public format."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from forensics import WeightsError, load_image
from forensics.hashing import sha256_file
from forensics.signals.mobilenet import MobileNetSignal
from forensics.signals.neural import preprocess
from forensics.weights.install import add, download, spec
from support.images import encode, natural_rgb
from support.neural_checkpoints import mixed_state_dict, model5m, sumsub_folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("sumsub")
    folder, ref = sumsub_folder(base / "Sumsub-ffs-synthetic-1.0_sd_5")
    root = base / "home"
    side = add("sumsub_sd5", folder, root=root)
    return {"root": root, "folder": folder, "ref": ref, "side": side}


@pytest.fixture(scope="module")
def pictures():
    shapes = [(300, 400), (640, 256), (224, 224), (97, 500)]
    return [load_image(encode(natural_rgb(h, w, seed=i), "PNG")) for i, (h, w) in enumerate(shapes)]


def reference_pipeline(rgb: np.ndarray) -> "torch.Tensor":
    """Sumsub's pipeline as published: squash to 224x224 (no crop), ImageNet mean/std."""
    from PIL import Image
    from torchvision import transforms

    t = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),
                            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    return t(Image.fromarray(rgb).convert("RGB"))


def test_sidecar_pins_preprocessing_labels_and_provenance(installed):
    side = json.loads((installed["root"] / "weights" / "sumsub_sd5" / "sidecar.json").read_text())
    assert side["arch"] == "tf_mobilenetv3_large_100"
    assert (side["input_size"], side["resize_mode"], side["interpolation"]) == (224, "squash", "bilinear")
    assert side["mean"] == [0.485, 0.456, 0.406] and side["std"] == [0.229, 0.224, 0.225]
    assert side["labels"] == ["real", "fake"]
    assert side["licence"] == "CC-BY-SA-3.0"
    assert side["source"]["repo"] == "Sumsub/Sumsub-ffs-synthetic-1.0_sd_5" and len(side["source"]["revision"]) == 40
    assert side["sha256"] == sha256_file(installed["folder"] / "diffusions5M.pt")
    assert side["upstream"]["config.json"]["id2label"] == {"0": "AI", "1": "Real"}
    # the public file's mix of half and float tensors was read, and the layout found
    assert side["state_dict"]["dtypes"]["float16"] > 0 and side["state_dict"]["dtypes"]["float32"] > 0
    assert side["state_dict"]["backbone_prefix"] == "model." and side["state_dict"]["head"] == ["clf.0", "clf.2"]
    assert side["onnx"]["parity_max_abs"] <= 1e-4


def test_preprocessing_is_sumsubs_squash_without_crop(pictures, installed):
    side = installed["side"]
    for im in pictures:
        ours = preprocess(im.rgb, side)
        ref = reference_pipeline(im.rgb).numpy()
        assert ours.shape == (3, 224, 224)
        np.testing.assert_allclose(ours, ref, atol=1e-5)
    # squash keeps the whole frame: a bright right edge survives (a centre crop would cut it)
    rgb = np.zeros((200, 800, 3), np.uint8)
    rgb[:, -40:] = 255
    x = preprocess(rgb, side)
    assert x[0, 112, -3] > 2.0 and x[0, 112, 5] < -2.0


def test_scores_and_label_order_match_the_reference_model(pictures, installed):
    ref = installed["ref"]
    sig = MobileNetSignal(home=str(installed["root"]))
    assert sig.availability().ok
    with torch.inference_mode():
        logits = ref(torch.stack([reference_pipeline(im.rgb) for im in pictures])).double()
    # Sumsub's pipeline reports id2label["0"] ("AI") with softmax[:, 1]: output 1 is "fake"
    p_ai = torch.softmax(logits, dim=1)[:, 1].numpy()
    results = sig.analyze_batch(pictures)
    for r, row, p in zip(results, logits.numpy(), p_ai):
        assert r.status == "ok" and r.name == "sumsub_sd5"
        assert r.score == pytest.approx(row[1] - row[0], abs=1e-4)
        assert r.evidence["p_fake"] == pytest.approx(p, abs=1e-5)
        assert r.score == pytest.approx(np.log(p / (1 - p)), abs=1e-4)
        assert r.evidence["backend"] == "onnxruntime" and r.evidence["input_size"] == 224
        assert r.evidence["weights"] == {"name": "sumsub_sd5", "sha256": installed["side"]["sha256"][:16]}
    singles = [sig.analyze(im) for im in pictures]
    for a, b in zip(results, singles):
        assert a.score == pytest.approx(b.score, abs=1e-5)


def test_onnx_agrees_with_torch_within_1e_4(installed):
    import onnxruntime as ort

    x = np.random.default_rng(7).standard_normal((5, 3, 224, 224)).astype(np.float32)
    sess = ort.InferenceSession(str(installed["root"] / "weights" / "sumsub_sd5" / "model.onnx"))
    with torch.inference_mode():
        ref = installed["ref"](torch.from_numpy(x)).numpy()
    assert np.abs(sess.run(None, {"pixels": x})[0] - ref).max() <= 1e-4


def test_tiny_image_abstains(installed):
    sig = MobileNetSignal(home=str(installed["root"]))
    r = sig.analyze(load_image(np.zeros((8, 8, 3), np.uint8)))
    assert r.status == "abstained" and "at least 32" in r.reason


def test_missing_key_fails_strictly(installed, tmp_path):
    state = torch.load(installed["folder"] / "diffusions5M.pt", weights_only=True)
    del state["model.blocks.1.0.bn1.running_var"]
    torch.save(state, tmp_path / "diffusions5M.pt")
    with pytest.raises(WeightsError, match=r"missing 1 key\(s\): blocks.1.0.bn1.running_var.*refusing a partial load"):
        add("sumsub_sd5", tmp_path, root=tmp_path / "home")
    assert not (tmp_path / "home" / "weights" / "sumsub_sd5").exists()


def test_unexpected_key_fails_strictly(installed, tmp_path):
    state = mixed_state_dict(model5m())
    state["model.classifier.weight"] = torch.zeros(1000, 1280)
    torch.save(state, tmp_path / "diffusions5M.pt")
    with pytest.raises(WeightsError, match=r"unexpected 1 key\(s\): classifier.weight"):
        add("sumsub_sd5", tmp_path, root=tmp_path / "home")


def test_a_pickled_module_is_refused(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "diffusions5M.pt")
    with pytest.raises(WeightsError, match="weights_only=True"):
        add("sumsub_sd5", tmp_path, root=tmp_path / "home")


@pytest.mark.parametrize("id2label", [{"0": "Real", "1": "AI"}, {"0": "class_a", "1": "class_b"}, {"0": "not AI", "1": "AI"}])
def test_label_order_conflict_with_config_is_refused(installed, tmp_path, id2label):
    shutil.copy(installed["folder"] / "diffusions5M.pt", tmp_path / "diffusions5M.pt")
    (tmp_path / "config.json").write_text(json.dumps({"id2label": id2label}))
    with pytest.raises(WeightsError, match="refusing to guess which output is 'fake'"):
        add("sumsub_sd5", tmp_path, root=tmp_path / "home")


def test_midjourney_sibling_is_configuration(installed, tmp_path):
    assert spec("sumsub_mj5").file == "midjourney5M.pt"
    assert MobileNetSignal(weights="sumsub_mj5").name == "sumsub_mj5"
    with pytest.raises(WeightsError, match="no midjourney5M.pt in this folder.*diffusions5M.pt"):
        add("sumsub_mj5", installed["folder"], root=tmp_path / "home")


def test_unavailable_without_weights_names_the_commands(tmp_path):
    sig = MobileNetSignal(home=str(tmp_path))
    avail = sig.availability()
    assert not avail.ok
    assert "`forensics weights download sumsub_sd5`" in avail.reason
    assert "`forensics weights add sumsub_sd5 PATH`" in avail.reason
    r = sig.analyze(load_image(natural_rgb(64, 64)))
    assert r.status == "unavailable" and r.reason == avail.reason
    assert sig.fingerprint()["weights_sha256"] is None


def test_changed_onnx_file_is_caught(installed, tmp_path):
    root = tmp_path / "home"
    shutil.copytree(installed["root"], root)
    onnx_path = root / "weights" / "sumsub_sd5" / "model.onnx"
    onnx_path.write_bytes(onnx_path.read_bytes() + b"\0")
    r = MobileNetSignal(home=str(root)).analyze(load_image(natural_rgb(64, 64)))
    assert r.status == "unavailable" and "changed after install" in r.reason


def test_analysis_imports_no_torch(installed):
    code = (
        "import sys, numpy as np\n"
        "import forensics\n"
        "from forensics.signals.mobilenet import MobileNetSignal\n"
        "assert 'torch' not in sys.modules\n"
        "r = MobileNetSignal(threads=1).analyze(forensics.load_image(np.full((64, 80, 3), 120, np.uint8)))\n"
        "assert r.status == 'ok', r.reason\n"
        "print(sorted(m for m in ('torch', 'timm', 'open_clip', 'huggingface_hub') if m in sys.modules))\n"
    )
    env = {**os.environ, "FORENSICS_HOME": str(installed["root"])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_thread_count_from_environment(monkeypatch):
    from forensics.signals.neural import OnnxModel

    monkeypatch.delenv("FORENSICS_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert OnnxModel("sumsub_sd5", None, None).threads == 1
    monkeypatch.setenv("FORENSICS_THREADS", "3")
    assert OnnxModel("sumsub_sd5", None, None).threads == 3
    assert OnnxModel("sumsub_sd5", None, 2).threads == 2


def test_synthetic2_spec_is_the_public_loaders_architecture():
    """Sumsub 2.0's public loader: timm ConvNeXt-Large CLIP with num_classes=0 (1536 pooled
    features, the width its Linear(1536, 128) head reads), fed 384 px, bicubic, CLIP mean/std,
    which is what timm's own pretrained config of that backbone states. Built on the meta
    device: the architecture is checked without 200M parameters in memory."""
    import timm

    s = spec("sumsub_synthetic2")
    with torch.device("meta"):
        m = timm.create_model(s.arch, pretrained=False, num_classes=0)
    assert m.head_hidden_size == 1536 and next(iter(m.state_dict())) == "stem.0.weight"
    cfg = m.pretrained_cfg
    assert (cfg["input_size"], cfg["interpolation"]) == ((3, s.input_size, s.input_size), s.interpolation)
    assert tuple(cfg["mean"]) == s.mean and tuple(cfg["std"]) == s.std
    assert (s.file, s.resize_mode, s.labels, s.revision) == ("synthetic.pt", "squash", ("real", "fake"), None)
    with pytest.raises(WeightsError, match=r"no pinned revision .* then `forensics weights add sumsub_synthetic2 PATH`"):
        download("sumsub_synthetic2")


def test_synthetic2_layout_converts_and_scores_like_torch(tmp_path):
    """Sumsub 2.0's file layout (a ConvNeXt backbone under ``model.``, its stem at
    ``stem.0.weight``, the head under ``clf.``), on a small ConvNeXt in place of the large
    one: installed with ``add``, scored on onnxruntime as torch scores it, after the pinned
    bicubic 384-px squash."""
    import timm
    from PIL import Image
    from torchvision import transforms

    class Synthetic2(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = timm.create_model("convnext_atto", pretrained=False, num_classes=0)
            self.clf = torch.nn.Sequential(torch.nn.Linear(320, 128), torch.nn.ReLU(), torch.nn.Linear(128, 2))

        def forward(self, x):
            return self.clf(self.model(x))

    torch.manual_seed(0)
    ref = Synthetic2().eval()
    folder = tmp_path / "Sumsub-ffs-synthetic-2.0"
    folder.mkdir()
    torch.save(ref.state_dict(), folder / "synthetic.pt")
    s = replace(spec("sumsub_synthetic2"), arch="convnext_atto")
    side = add("sumsub_synthetic2", folder, root=tmp_path / "home", weight_spec=s)
    assert side["state_dict"]["backbone_prefix"] == "model." and side["state_dict"]["head"] == ["clf.0", "clf.2"]
    assert (side["input_size"], side["interpolation"]) == (384, "bicubic")
    sig = MobileNetSignal(weights="sumsub_synthetic2", home=str(tmp_path / "home"), threads=1)
    t = transforms.Compose([transforms.Resize((384, 384), interpolation=transforms.InterpolationMode.BICUBIC),
                            transforms.ToTensor(), transforms.Normalize(mean=s.mean, std=s.std)])
    for i, (h, w) in enumerate([(300, 500), (640, 256)]):
        rgb = natural_rgb(h, w, seed=10 + i)
        with torch.inference_mode():
            logits = ref(t(Image.fromarray(rgb))[None]).double()[0]
        r = sig.analyze(load_image(encode(rgb, "PNG")))
        assert r.status == "ok" and r.name == "sumsub_synthetic2"
        assert r.score == pytest.approx(float(logits[1] - logits[0]), abs=1e-3)
