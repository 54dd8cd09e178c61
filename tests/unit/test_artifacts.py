"""The one reader of model artifacts and the one onnxruntime session cache."""

import json
import shutil

import numpy as np
import pytest

from forensics.artifacts import OnnxGraph, packaged, read_artifact, session
from forensics.errors import WeightsError
from forensics.hashing import sha256_file


def write(path, doc):
    path.write_text(json.dumps(doc))
    return path


def test_reads_format_arrays_and_sha256(tmp_path):
    path = write(tmp_path / "m.json", {"format": "x.model", "format_version": 2, "mean": [1, 2.5], "note": "n"})
    art = read_artifact(path, "x.model", 2, arrays=("mean",))
    assert art.sha256 == sha256_file(path) and art["note"] == "n" and "mean" in art
    assert art.arrays["mean"].dtype == np.float64 and art.arrays["mean"].tolist() == [1.0, 2.5]
    assert read_artifact(path, "x.model", 2, arrays=("mean",), sha256=art.sha256) is art  # cached


def test_refuses_an_unknown_format_version_and_another_format(tmp_path):
    path = write(tmp_path / "m.json", {"format": "x.model", "format_version": 3})
    with pytest.raises(WeightsError, match=r"m.json: unreadable probe head .*expected format 'x.model' version 2, got "
                                           r"'x.model' version 3\); reinstall forensics"):
        read_artifact(path, "x.model", 2, what="probe head")
    with pytest.raises(WeightsError, match="expected format 'y.model' version 3, got 'x.model'"):
        read_artifact(path, "y.model", 3)


def test_refuses_a_wrong_sha256(tmp_path):
    path = write(tmp_path / "m.json", {"format": "x.model", "format_version": 1})
    with pytest.raises(WeightsError, match=f"sha256 {sha256_file(path)} differs from the recorded 00ff; refit it"):
        read_artifact(path, "x.model", 1, sha256="00ff", fix="refit it")


def test_refuses_non_finite_numbers_and_missing_arrays(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"format": "x.model", "format_version": 1, "mean": [1, NaN]}')
    with pytest.raises(WeightsError, match="NaN is not a number this file may hold"):
        read_artifact(path, "x.model", 1, arrays=("mean",))
    write(path, {"format": "x.model", "format_version": 1, "mean": [1e308, 1e308, -1e999]})
    with pytest.raises(WeightsError, match="Infinity is not a number|arrays mean must be finite"):
        read_artifact(path, "x.model", 1, arrays=("mean",))
    write(path, {"format": "x.model", "format_version": 1})
    with pytest.raises(WeightsError, match="KeyError: 'scale'"):
        read_artifact(path, "x.model", 1, arrays=("scale",))
    with pytest.raises(WeightsError, match="gone.json: cannot read the model file"):
        read_artifact(tmp_path / "gone.json", "x.model", 1)


def test_a_rewritten_file_is_read_again(tmp_path):
    path = write(tmp_path / "m.json", {"format": "x.model", "format_version": 1, "v": 1})
    assert read_artifact(path, "x.model", 1)["v"] == 1
    write(path, {"format": "x.model", "format_version": 1, "v": 22})
    assert read_artifact(path, "x.model", 1)["v"] == 22


def test_the_session_cache_checks_the_graph_once_and_refuses_a_wrong_sha256(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is a core dependency; this install lacks it")
    head = read_artifact(packaged("forensics.signals", "npr.json"), "forensics.npr", 1)
    graph = head.graph()
    assert graph.path.is_file() and graph.sha256 == sha256_file(graph.path)
    assert session(graph, 1) is session(graph, 1)
    copy = tmp_path / "npr.onnx"
    shutil.copyfile(graph.path, copy)
    with pytest.raises(WeightsError, match=f"npr.onnx: sha256 {graph.sha256} differs from the recorded 0123; reinstall"):
        session(OnnxGraph(copy, "0123"), 1)


def test_every_shipped_json_file_is_an_artifact_of_its_reader():
    """Each JSON file shipped in a data folder declares a format and version the artifact reader
    checks: the heads, the fusion, the attribution model and the CLIP prompt set."""
    from forensics import attribution
    from forensics.fusion.logistic import FORMAT as FUSION_FORMAT
    from forensics.fusion.logistic import FORMAT_VERSION as FUSION_VERSION
    from forensics.signals import dct, effnet_probe, npr
    from forensics.signals.clip import PROMPTS_FORMAT, PROMPTS_FORMAT_VERSION

    formats = {"effnet_probe.json": (effnet_probe.HEAD_FORMAT, effnet_probe.HEAD_FORMAT_VERSION),
               "npr.json": (npr.HEAD_FORMAT, npr.HEAD_FORMAT_VERSION),
               "dct_head.json": (dct.HEAD_FORMAT, dct.HEAD_FORMAT_VERSION),
               "clip_prompts.json": (PROMPTS_FORMAT, PROMPTS_FORMAT_VERSION),
               "default_fusion.json": (FUSION_FORMAT, FUSION_VERSION),
               "attribution.json": (attribution.FORMAT, attribution.FORMAT_VERSION)}
    shipped = [p for pkg in ("forensics", "forensics.signals", "forensics.fusion") for p in
               sorted(packaged(pkg, "x").parent.glob("*.json"))]
    assert sorted(p.name for p in shipped) == sorted(formats)
    for p in shipped:
        assert read_artifact(p, *formats[p.name]).path == p


def test_a_prompt_set_without_prompts_for_a_class_is_refused(tmp_path):
    from forensics.signals.clip import PROMPTS, load_prompts

    data = json.loads(PROMPTS.read_text())
    data["prompts"]["real"] = []
    (tmp_path / "p.json").write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="class 'real'"):
        load_prompts(tmp_path / "p.json")
    assert len(load_prompts()["sha256"]) == 64
