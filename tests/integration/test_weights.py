"""The weight store and the `forensics weights` subcommand (no network)."""

from __future__ import annotations

import argparse
import json

import pytest

from forensics import SignalUnavailableError, WeightsError
from forensics.cli.weights import register
from forensics.hashing import sha256_file
from forensics.weights import install, store
from forensics.weights.store import RUNTIME_INSTALL, read_sidecar, weights_dir


def run_cli(argv, capsys):
    parser = argparse.ArgumentParser(prog="forensics")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FORENSICS_HOME", str(tmp_path / "fh"))
    return tmp_path / "fh"


def test_store_location_follows_forensics_home(home):
    assert store.home() == home
    assert weights_dir("sumsub_sd5") == home / "weights" / "sumsub_sd5"
    with pytest.raises(WeightsError, match="not valid"):
        weights_dir("../evil")


def test_list_says_what_each_signal_needs(home, capsys):
    code, out, _ = run_cli(["weights", "list", "--json"], capsys)
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert {"sumsub_sd5", "sumsub_mj5", "clip_vit_b32_openai"} <= set(rows)
    sd5 = rows["sumsub_sd5"]
    assert sd5["signal"] == "sumsub_sd5" and sd5["installed"] is False
    assert sd5["licence"] == "CC-BY-SA-3.0" and sd5["file"] == "diffusions5M.pt"
    assert sd5["source"].startswith("Sumsub/Sumsub-ffs-synthetic-1.0_sd_5@")
    assert sd5["dir"] == str(home / "weights" / "sumsub_sd5")
    assert rows["clip_vit_b32_openai"]["signal"] == "clip_zeroshot"
    code, text, _ = run_cli(["weights", "list"], capsys)
    assert code == 0 and "sumsub_sd5  [not installed]" in text and str(home / "weights") in text


def test_unknown_name_suggests(home):
    with pytest.raises(WeightsError, match="did you mean 'sumsub_sd5'"):
        install.spec("sumsub_sd4")


def test_add_missing_path_says_what_it_expected(home, tmp_path, capsys):
    code, _, err = run_cli(["weights", "add", "sumsub_sd5", str(tmp_path / "nope")], capsys)
    assert code == 1 and "no such file or folder; expected diffusions5M.pt" in err


def test_download_offline_uses_the_cache_only(home, tmp_path, monkeypatch, capsys):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    code, _, err = run_cli(["weights", "download", "sumsub_sd5"], capsys)
    assert code == 1
    assert "HF_HUB_OFFLINE is set" in err and "forensics weights add sumsub_sd5 PATH" in err
    assert not (home / "weights" / "sumsub_sd5").exists()


def test_broken_sidecar_is_reported_not_used(home):
    folder = home / "weights" / "sumsub_sd5"
    folder.mkdir(parents=True)
    (folder / "sidecar.json").write_text(json.dumps({"format": "forensics.weights", "format_version": 99}))
    with pytest.raises(WeightsError, match="version 99"):
        read_sidecar("sumsub_sd5")
    row = next(r for r in install.status() if r["name"] == "sumsub_sd5")
    assert row["installed"] is False and "version 99" in row["problem"]
    (folder / "sidecar.json").unlink()
    with pytest.raises(SignalUnavailableError, match="forensics weights download sumsub_sd5"):
        read_sidecar("sumsub_sd5", s=install.spec("sumsub_sd5"))


@pytest.mark.requires("torch", "timm", "onnx", "onnxscript", "onnxruntime")
def test_add_the_weight_file_alone_through_the_cli(home, tmp_path, capsys):
    from support.neural_checkpoints import sumsub_folder

    folder, _ = sumsub_folder(tmp_path / "sd5")
    code, out, err = run_cli(["weights", "add", "sumsub_sd5", str(folder / "diffusions5M.pt")], capsys)
    assert code == 0, err
    digest = sha256_file(folder / "diffusions5M.pt")
    side = read_sidecar("sumsub_sd5")
    assert side["source"]["how"] == "add" and "upstream" in side  # config.json beside the file was read
    assert f"sha256 {digest}" in out
    code, out, _ = run_cli(["weights", "list", "--json"], capsys)
    row = next(r for r in json.loads(out) if r["name"] == "sumsub_sd5")
    assert row["installed"] is True and row["sha256"] == digest and row["parity_max_abs"] <= 1e-4
    assert row["installed_from"] == f"local copy {folder / 'diffusions5M.pt'}"


def test_download_reads_the_pinned_revision_from_the_hf_cache(home, tmp_path, monkeypatch, capsys):
    """Offline, a file already in the standard HF cache at the pinned commit is used as is."""
    constants = pytest.importorskip("huggingface_hub.constants")
    cache = tmp_path / "hf"
    s = install.spec("sumsub_sd5")
    snap = cache / f"models--{s.repo.replace('/', '--')}" / "snapshots" / s.revision
    snap.mkdir(parents=True)
    (snap / s.file).write_bytes(b"weights")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    calls = []
    monkeypatch.setattr(install, "add", lambda name, path, **kw: calls.append((name, path, kw)) or {"name": name})
    assert install.download("sumsub_sd5") == {"name": "sumsub_sd5"}
    (name, path, kw), = calls
    assert name == "sumsub_sd5" and path == snap
    src = kw["source"]
    assert src["how"] == "download" and src["revision"] == s.revision and src["repo"] == s.repo
    assert src["sha256_checked_against"].startswith("nothing (offline")


@pytest.mark.parametrize("name,weights", [("sumsub_sd5", "sumsub_sd5"), ("clip_zeroshot", "clip_vit_b32_openai")])
def test_unavailable_reason_names_weights_and_runtime_when_both_are_missing(home, monkeypatch, name, weights):
    from forensics.signals import create_signal

    monkeypatch.setattr("forensics.signals.neural.runtime_problem", lambda: f"onnxruntime is not installed: {RUNTIME_INSTALL}")
    reason = create_signal(name).availability().reason
    assert f"forensics weights download {weights}" in reason and f"forensics weights add {weights} PATH" in reason
    assert reason.endswith("to run them, also install onnxruntime: `pip install onnxruntime` (a dependency of forensics; reinstall it)")
