"""The training pipeline's runner (forensics.training.runner): stages run in order as processes,
--from/--to pick a range, a stage whose outputs and inputs are as the manifest records is skipped,
the manifest lists every output with its size, sha256, stage and code version, and a failing stage
is named with its log. Tiny stages made by the test (a Python file that copies its input and adds
its name) stand in for the real ones, which take hours."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from forensics.training.runner import MANIFEST, Config, PipelineError, Stage, code_version, run, stages

STAGE = """\
import sys
from pathlib import Path

name, out, src, calls = sys.argv[1:5]
with open(calls, "a") as fh:
    fh.write(name + "\\n")
if name in sys.argv[5:]:
    print(f"{name} fails as asked")
    raise SystemExit(3)
if "silent:" + name not in sys.argv[5:]:
    Path(out).write_text(Path(src).read_text() + name + "\\n")
"""


@pytest.fixture
def pipe(tmp_path):
    """Three stages a -> b -> c, each reading the previous one's output (a reads src.txt)."""
    script = tmp_path / "stage.py"
    script.write_text(STAGE)
    cfg = Config(train_dir=tmp_path / "train", cache=tmp_path / "cache", mirror=tmp_path / "mirror",
                 corpus=tmp_path / "corpus", repo=tmp_path)
    (tmp_path / "src.txt").write_text("source\n")
    fail: list[str] = []

    def stage(name: str, src) -> Stage:
        return Stage(name, lambda c: [sys.executable, str(script), name, str(c.cache / f"{name}.txt"), str(src(c)),
                                      str(c.repo / "calls.txt"), *fail],
                     lambda c: [src(c)], lambda c: [c.cache / f"{name}.txt"], (script,))

    plan = [stage("a", lambda c: c.repo / "src.txt"), stage("b", lambda c: c.cache / "a.txt"),
            stage("c", lambda c: c.cache / "b.txt")]
    return plan, cfg, fail


def calls(cfg: Config) -> list[str]:
    path = cfg.repo / "calls.txt"
    return path.read_text().split() if path.is_file() else []


def test_stages_run_in_order_and_the_manifest_lists_every_output(pipe):
    plan, cfg, _ = pipe
    lines: list[str] = []
    assert run(plan, cfg, log=lines.append) == ["a", "b", "c"]
    assert calls(cfg) == ["a", "b", "c"]
    assert (cfg.cache / "c.txt").read_text() == "source\na\nb\nc\n"
    assert [m.split(" (log")[0].split(" ", 1)[1] for m in lines if "(log" in m] == ["[1/3] a", "[2/3] b", "[3/3] c"]
    manifest = json.loads((cfg.cache / MANIFEST).read_text())
    assert manifest["format"] == "forensics.training.cache"
    assert sorted(manifest["files"]) == ["a.txt", "b.txt", "c.txt"]
    for name in "abc":
        rec = manifest["files"][f"{name}.txt"]
        data = (cfg.cache / f"{name}.txt").read_bytes()
        assert rec["size"] == len(data)
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
        assert rec["stage"] == name
        assert rec["code_version"] == code_version(plan["abc".index(name)]) == manifest["stages"][name]["code_version"]
    assert manifest["stages"]["b"]["inputs"] == {"a.txt": manifest["files"]["a.txt"]["sha256"]}
    assert manifest["stages"]["a"]["inputs"] == {"repo:src.txt": hashlib.sha256(b"source\n").hexdigest()}
    assert (cfg.cache / "b.log").is_file()


def test_a_second_run_skips_what_is_up_to_date_and_reruns_what_changed(pipe):
    plan, cfg, _ = pipe
    run(plan, cfg, log=lambda m: None)
    lines: list[str] = []
    assert run(plan, cfg, log=lines.append) == []
    assert lines == ["[1/3] a: up to date, skipped", "[2/3] b: up to date, skipped", "[3/3] c: up to date, skipped"]
    (cfg.cache / "b.txt").write_text("edited by hand\n")  # an output no longer as recorded: b runs again
    assert run(plan, cfg, log=lambda m: None) == ["b"]  # and writes the same bytes, so c's input is as recorded
    (cfg.repo / "src.txt").write_text("new source\n")  # a changed input runs every stage downstream
    assert run(plan, cfg, log=lambda m: None) == ["a", "b", "c"]
    assert (cfg.cache / "c.txt").read_text() == "new source\na\nb\nc\n"
    assert run(plan, cfg, force=True, start="c", log=lambda m: None) == ["c"]


def test_a_checkout_elsewhere_finds_the_cache_up_to_date(pipe, tmp_path):
    plan, cfg, _ = pipe
    run(plan, cfg, log=lambda m: None)
    elsewhere = tmp_path / "other-checkout"
    elsewhere.mkdir()
    (elsewhere / "src.txt").write_text("source\n")
    assert run(plan, dataclasses.replace(cfg, repo=elsewhere), log=lambda m: None) == []
    (elsewhere / "src.txt").write_text("changed there\n")
    assert run(plan, dataclasses.replace(cfg, repo=elsewhere), log=lambda m: None) == ["a", "b", "c"]


def test_a_change_in_a_stage_s_code_runs_it_again(pipe, tmp_path):
    plan, cfg, _ = pipe
    run(plan, cfg, log=lambda m: None)
    (tmp_path / "stage.py").write_text(STAGE + "# changed\n")
    assert run(plan, cfg, log=lambda m: None) == ["a", "b", "c"]


def test_from_and_to_pick_a_range(pipe):
    plan, cfg, _ = pipe
    assert run(plan, cfg, stop="a", log=lambda m: None) == ["a"]
    assert run(plan, cfg, start="b", stop="b", log=lambda m: None) == ["b"]
    assert run(plan, cfg, start="c", log=lambda m: None) == ["c"]
    assert calls(cfg) == ["a", "b", "c"]
    with pytest.raises(PipelineError, match=r"unknown stage 'x'; the stages are a, b, c"):
        run(plan, cfg, start="x")
    with pytest.raises(PipelineError, match=r"--from c comes after --to a"):
        run(plan, cfg, start="c", stop="a")


def test_resuming_without_an_earlier_stage_s_output_names_that_stage(pipe):
    plan, cfg, _ = pipe
    with pytest.raises(PipelineError, match=r"stage b needs .*a\.txt, which does not exist; stage a writes it: run from a"):
        run(plan, cfg, start="b")
    assert calls(cfg) == []


def test_a_failing_stage_is_named_with_its_log_and_stops_the_run(pipe):
    plan, cfg, fail = pipe
    fail.append("b")
    with pytest.raises(PipelineError, match=r"stage b failed \(exit 3\); see .*b\.log, then resume with --from b"):
        run(plan, cfg, log=lambda m: None)
    assert calls(cfg) == ["a", "b"]
    assert (cfg.cache / "b.log").read_text() == "b fails as asked\n"
    assert list(json.loads((cfg.cache / MANIFEST).read_text())["stages"]) == ["a"]
    fail.clear()
    assert run(plan, cfg, start="b", log=lambda m: None) == ["b", "c"]


def test_a_stage_that_writes_nothing_is_an_error(pipe):
    plan, cfg, fail = pipe
    fail.append("silent:a")
    with pytest.raises(PipelineError, match=r"stage a exited 0 but did not write .*a\.txt; see .*a\.log"):
        run(plan, cfg, log=lambda m: None)


def test_the_real_pipeline_reads_only_what_an_earlier_stage_writes_or_the_manifests_give(tmp_path):
    """Every cache file a stage reads is written by a stage before it; the other inputs are the
    manifests' labels and the shipped files; every stage is a module of the package."""
    cfg = Config(train_dir=tmp_path / "train", cache=tmp_path / "cache", mirror=tmp_path / "mirror",
                 corpus=tmp_path / "corpus", repo=tmp_path / "repo")
    plan = stages()
    assert [s.name for s in plan] == ["pixel_data", "taesd_fakes", "autogan_fakes", "pix2pix_fakes", "fake_features",
                                      "enlarged_views", "fit_pixel_heads", "train_npr",
                                      "signal_scores", "fit_fusion", "eval_generalisation", "fit_attribution"]
    written: set[Path] = set()
    for s in plan:
        for p in s.inputs(cfg):
            assert (p in written or p.name == "labels.csv" or p.parent == cfg.repo / "signals" / "data"
                    or p == cfg.repo / "signals" / "effnet_views.py"), (s.name, p)
        written.update(s.outputs(cfg))
        assert all(src.is_file() for src in s.sources), s.name
        assert s.command(cfg)[1:3] == ["-m", f"forensics.training.{s.name}"]


def test_every_stage_that_reads_images_through_the_probe_reruns_when_its_code_or_backbone_changes(tmp_path):
    """The probe's windows and pooling live in signals/effnet_views.py, outside the training package:
    a stage whose module reads images through it lists that file and the backbone among its inputs,
    and none lists signals/effnet_probe.py, whose scoring and heatmap no cached feature depends on."""
    cfg = Config(train_dir=tmp_path, cache=tmp_path, mirror=tmp_path, corpus=tmp_path, repo=tmp_path / "repo")
    probe = {cfg.repo / "signals" / "effnet_views.py", cfg.repo / "signals" / "data" / "effnet_lite0.onnx"}
    for s in stages():
        module = s.sources[0].read_text()
        if "effnet_features" in module or "EffnetProbeSignal" in module:
            assert probe <= set(s.inputs(cfg)), s.name
    assert {s.name for s in stages() if probe <= set(s.inputs(cfg))} == {"pixel_data", "fake_features", "enlarged_views",
                                                                        "fit_attribution"}
    assert not any(cfg.repo / "signals" / "effnet_probe.py" in s.inputs(cfg) for s in stages())


def test_the_command_line_names_an_unknown_stage(tmp_path):
    out = subprocess.run([sys.executable, "-m", "forensics.training", "--train-dir", str(tmp_path), "--cache",
                          str(tmp_path / "cache"), "--mirror", str(tmp_path), "--from", "fit_fuzion"],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "forensics.training: unknown stage 'fit_fuzion'; the stages are pixel_data, taesd_fakes" in out.stderr
    assert not (tmp_path / "cache" / MANIFEST).exists()


def test_import_forensics_leaves_the_pipeline_out_and_the_runner_leaves_torch_out():
    code = ("import sys, forensics\n"
            "assert not [m for m in sys.modules if m.startswith('forensics.training')]\n"
            "import forensics.training.__main__, forensics.training.fit_fusion, forensics.training.eval_generalisation\n"
            "print(sorted(m for m in ('torch', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
