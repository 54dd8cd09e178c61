import csv
import json

import pytest

from forensics import ForensicsError
from forensics.cli.main import main
from forensics.evaluation.evaluate import evaluate, read_labels, select
from support.batch_signals import Redness, Sharpness, batch_fusion, coloured
from support.images import encode

TRAIN = ["ai/a00.png", "real/r00.jpg"]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """24 AI-labelled reddish PNGs from two 'generators' and 24 real bluish JPEGs from two
    'cameras', with a labels.csv in the corpus format; the fusion records two of them as training files."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "ai").mkdir()
    (root / "real").mkdir()
    rows = []
    for i in range(24):
        rgb = coloured(96, 96, 4 + i % 3)  # seeds 4..6: redder
        (root / "ai" / f"a{i:02d}.png").write_bytes(encode(rgb, "PNG"))
        rows.append([f"ai/a{i:02d}.png", "ai", "lab", "gen-a" if i % 2 else "gen-b"])
        rgb = coloured(96, 128, i % 3)  # seeds 0..2: bluer
        (root / "real" / f"r{i:02d}.jpg").write_bytes(encode(rgb, "JPEG", quality=92))
        rows.append([f"real/r{i:02d}.jpg", "real", "camera-x" if i % 2 else "camera-y", "camera"])
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "source", "generator", "licence", "note"])
        w.writerows([r + ["test", ""] for r in rows])
    return root


def kwargs():
    return {"signals": [Redness(), Sharpness()], "fusion": batch_fusion(training_files=TRAIN), "workers": 0}


def test_original_condition_metrics_tables_and_plots(labelled, tmp_path):
    out = tmp_path / "eval"
    ev = evaluate(labelled / "labels.csv", out, conditions=["original"], **kwargs())
    assert ev.n_labelled == 48 and ev.n_excluded_training == 2 and ev.n_used == 46
    fused = ev.metrics["original"]["fused"]
    assert fused["n"] == 46 and fused["n_ai"] == 23
    assert fused["auroc"] > 0.95 and fused["tpr_at_fpr_5pct"] is not None
    assert 0 <= fused["brier"] <= 1 and 0 <= fused["ece"] <= 1
    red = ev.metrics["original"]["signals"]["redness"]
    assert red["auroc"] > 0.95 and red["brier"] is None and red["coverage"] == 1.0
    groups = ev.groups["original"]
    assert set(groups) == {"source=lab", "source=camera-x", "source=camera-y", "generator=gen-a",
                           "generator=gen-b", "generator=camera"}
    gen_a = groups["generator=gen-a"]["fused"]
    assert gen_a["n_ai"] == 12 and gen_a["n_real"] == 23  # one generator against every real
    for name in ("evaluation.md", "metrics.json", "roc_original.png", "reliability_original.png"):
        assert (out / name).stat().st_size > 0
    md = (out / "evaluation.md").read_text()
    assert "| original | 46 (23/23) |" in md and "excluded (the fusion's provenance names them)" in md
    assert json.loads((out / "metrics.json").read_text())["n_excluded_training"] == 2


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
def test_images_a_calibration_refit_on_are_left_out_by_their_bytes(tmp_path):
    from forensics.calibration import fit_calibration

    train, held = tmp_path / "train", tmp_path / "corpus"
    rows = []
    for folder, n in ((train, 12), (held, 20)):
        for cls, seed in (("ai", 4), ("real", 0)):
            (folder / cls).mkdir(parents=True)
            for i in range(n):
                # distinct bytes per file: the width varies
                (folder / cls / f"{i:02d}.png").write_bytes(encode(coloured(64, 64 + i + (n == 20) * 40, seed + i % 3), "PNG"))
    # the labels name the held-out images and, elsewhere on disk, copies of the training ones
    for cls in ("ai", "real"):
        rows += [[f"{cls}/{i:02d}.png", cls] for i in range(20)]
        rows += [[str(train / cls / f"{i:02d}.png"), cls] for i in range(12)]
    with open(held / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label"], *rows])
    cal = fit_calibration(sorted(map(str, (train / "real").iterdir())), sorted(map(str, (train / "ai").iterdir())),
                          target_fpr=0.1, signals=[Redness(), Sharpness()], fusion=batch_fusion(calibrated=False))
    assert len(cal.fusion.provenance_["training_sha256"]) == 24
    ev = evaluate(held / "labels.csv", conditions=["original"], signals=[Redness(), Sharpness()],
                  fusion=batch_fusion(calibrated=False), calibration=cal, workers=0)
    assert ev.n_labelled == 64 and ev.n_excluded_training == 24 and ev.n_used == 40


def test_training_files_only_with_a_loud_warning(labelled):
    ev = evaluate(labelled / "labels.csv", None, conditions=["original"], include_training=True, **kwargs())
    assert ev.n_used == 48
    assert ev.notes and ev.notes[0].startswith("WARNING: --include-training: 2 image(s)")
    assert "**included**" in ev.markdown()


def test_deterministic_samples(labelled):
    items = read_labels(labelled / "labels.csv")
    a, excluded = select(items, training_files=TRAIN, sample_per_class=5, seed=1)
    b, _ = select(items, training_files=TRAIN, sample_per_class=5, seed=1)
    c, _ = select(items, training_files=TRAIN, sample_per_class=5, seed=2)
    assert [i.rel for i in a] == [i.rel for i in b] != [i.rel for i in c]
    assert sum(i.label for i in a) == 5 and len(a) == 10
    assert not {i.rel for i in a} & set(TRAIN) and {i.rel for i in excluded} == set(TRAIN)
    assert len(select(items, limit=7)[0]) == 7


def test_laundering_conditions_with_workers(labelled, tmp_path):
    args = kwargs() | {"workers": 2}
    ev = evaluate(labelled / "labels.csv", tmp_path, conditions=["original", "jpeg90", "jpeg75", "downscale05"],
                  sample_per_class=6, **args)
    assert ev.conditions == ["original", "jpeg90", "jpeg75", "downscale05"] and not ev.errors
    for cond in ev.conditions:
        assert ev.metrics[cond]["fused"]["n"] == 12
        assert (tmp_path / f"roc_{cond}.png").exists() and (tmp_path / f"reliability_{cond}.png").exists()
    # the sharpness score changes when images are re-encoded and shrunk, deterministically
    s_orig = ev.metrics["original"]["signals"]["sharpness"]
    again = evaluate(labelled / "labels.csv", None, conditions=["downscale05"], sample_per_class=6, **args)
    assert again.metrics["downscale05"] == ev.metrics["downscale05"] and s_orig is not None


def test_errors_and_usage(labelled, tmp_path, capsys):
    with pytest.raises(ForensicsError, match=r"unknown condition\(s\) sepia; expected some of original, "):
        evaluate(labelled / "labels.csv", None, conditions=["sepia"], **kwargs())
    bad = tmp_path / "bad.csv"
    bad.write_text("file,kind\nx.png,ai\n")
    with pytest.raises(ForensicsError, match="missing column"):
        read_labels(bad)
    bad.write_text("path,label\nx.png,maybe\n")
    with pytest.raises(ForensicsError, match=r"bad.csv:2: label 'maybe' is not 'ai' or 'real'"):
        read_labels(bad)
    missing = tmp_path / "m.csv"
    missing.write_text(f"path,label\n{labelled / 'ai' / 'a01.png'},ai\nnope.png,real\n")
    ev = evaluate(missing, None, conditions=["original"], **kwargs())
    assert len(ev.errors) == 1 and ev.errors[0]["path"] == "nope.png" and "No such file" in ev.errors[0]["error"]
    code = main(["evaluate", "--labels", str(labelled / "labels.csv"), "--conditions", "original",
                 "--sample-per-class", "4", "--workers", "0", "--no-progress", "-o", str(tmp_path / "cli")])
    out = capsys.readouterr()
    assert code == 0 and "| original | 8 (4/4) |" in out.out and "used 8 of 48" in out.err
    assert main(["evaluate", "--labels", str(tmp_path / "none.csv")]) == 2
    assert main(["evaluate", "--labels", str(bad), "--limit", "0"]) == 2
