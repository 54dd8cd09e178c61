import json
import subprocess
import sys

import pytest

from forensics.analysis import validate_row
from forensics.cli.main import main
from support.images import camera_exif, encode, natural_rgb, png_bomb


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rgb = natural_rgb(200, 260, seed=5)
    good = {
        "camera.jpg": encode(rgb, "JPEG", quality=90, exif=camera_exif()),
        "plain.png": encode(rgb, "PNG"),
        "web.webp": encode(rgb, "WEBP", quality=80),
        "phone.heic": encode(rgb, "HEIF"),
        "one.gif": encode(rgb, "GIF"),
        "scan.tiff": encode(rgb, "TIFF"),
    }
    jpeg = encode(rgb, "JPEG", quality=90)
    bad = {"zero.jpg": b"", "notes.jpg": b"just some text\n", "bomb.png": png_bomb()}
    for name, data in {**good, **bad, "cut.jpg": jpeg[: len(jpeg) // 2]}.items():
        (d / name).write_bytes(data)
    return d, sorted(good), sorted(bad)


def test_batch_reports_good_files_and_errors(files, capsys):
    d, good, bad = files
    paths = [str(d / n) for n in good + bad + ["cut.jpg"]]
    code = main(["analyze", "--json", *paths])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # some files failed to load, the others are still reported
    assert len(rows) == len(paths)
    by_name = {r["source"].rsplit("/", 1)[-1]: r for r in rows}
    for row in rows:
        validate_row(row)
    for name in good:
        assert "probability" in by_name[name], by_name[name]
    assert by_name["phone.heic"]["image"]["format"] == "HEIF"
    assert by_name["cut.jpg"]["image"]["truncated"] is True
    assert "file is empty" in by_name["zero.jpg"]["error"]["message"]
    assert "not a recognised image" in by_name["notes.jpg"]["error"]["message"]
    assert "decompression-bomb limit" in by_name["bomb.png"]["error"]["message"]
    for name in bad:
        assert f"{name}:" in err  # errors on stderr, with the file name


def test_human_output_lists_signals_and_verdict(files, capsys):
    d, _, _ = files
    assert main(["analyze", str(d / "camera.jpg")]) == 0
    out = capsys.readouterr().out
    assert "P(AI) =" in out and "(intercept)" in out
    assert any(v in out for v in ("likely_ai", "likely_real", "inconclusive"))


def test_sample_image_runs(capsys):
    assert main(["analyze", "--sample", "--json"]) == 0
    validate_row(json.loads(capsys.readouterr().out))


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--no-such-option"])
    assert exc.value.code == 2
    assert main(["analyze"]) == 2
    assert main(["analyze", "--sample", "--signals", "nope"]) == 2
    assert "unknown signal 'nope'" in capsys.readouterr().err


def test_signals_command_lists_each_signal(capsys):
    from forensics.signals import signal_names

    assert main(["signals", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in rows][: len(signal_names())] == signal_names()
    for r in rows:
        assert r["available"] or r["reason"]


def test_import_loads_no_heavy_runtime():
    code = ("import sys, forensics, forensics.signals, forensics.fusion, forensics.calibration; "
            "import forensics.signals.registry as r; [r.signal_class(n) for n in r.signal_names()]; "
            "print(sorted(m for m in ('torch','timm','open_clip','onnxruntime','sklearn','matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_calibrate_then_analyze_with_calibration(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FORENSICS_HOME", str(tmp_path / "no-weights"))  # neural signals unavailable
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir(), fake.mkdir()
    for i in range(20):
        (real / f"r{i:02d}.jpg").write_bytes(encode(natural_rgb(160, 200, seed=i), "JPEG", quality=88, exif=camera_exif()))
        (fake / f"f{i:02d}.png").write_bytes(encode(natural_rgb(160, 200, seed=100 + i), "PNG"))
    out = tmp_path / "cal.json"
    assert main(["calibrate", "--real", str(real), "--target-fpr", "0.05", "-o", str(out)]) == 0
    text = capsys.readouterr()
    assert "conformal calibration on 20 real images" in text.out
    assert "about 200 are needed" in text.err  # 20 reals: allowed, but warned
    assert main(["analyze", "--json", "--calibration", str(out), str(fake / "f00.png")]) == 0
    row = json.loads(capsys.readouterr().out)
    validate_row(row)
    assert row["decision"]["method"] == "conformal" and row["calibration"]["n_real"] == 20
    assert main(["calibrate", "--real", str(real), "--fake", str(fake), "-o", str(out), "--plots", str(tmp_path / "plots")]) == 0
    assert "fitted calibration on 20 real and 20 fake images" in capsys.readouterr().out
    assert (tmp_path / "plots" / "reliability.png").is_file()
    cal = json.loads(out.read_text())
    assert cal["format"] == "forensics.calibration" and cal["metrics"]["held_out"]["n"] == 40
    assert main(["calibrate", "--real", str(real), "--target-fpr", "0.01", "-o", str(out)]) == 2
    assert "at least 99 readable real images" in capsys.readouterr().err
    assert main(["calibrate", "--real", str(real), "--probe", "-o", str(out)]) == 2
    assert "pass fake images too (--fake DIR)" in capsys.readouterr().err
    assert main(["calibrate", "--real", str(real), "--fake", str(fake), "--probe", "-o", str(out)]) == 2
    assert "the CLIP probe needs the clip_zeroshot signal: no weights" in capsys.readouterr().err


def test_decisive_metadata_is_named(tmp_path, capsys):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a photo of a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd15")
    path = tmp_path / "a1111.png"
    path.write_bytes(encode(natural_rgb(256, 256, seed=9), "PNG", pnginfo=info))
    assert main(["analyze", "--json", str(path)]) == 0
    row = json.loads(capsys.readouterr().out)
    validate_row(row)
    assert row["decisive"] == ["generator_metadata"] and row["probability"] >= 0.999
    assert main(["analyze", str(path)]) == 0
    assert "decided by: generator_metadata" in capsys.readouterr().out


def test_an_internal_key_error_is_not_reported_as_a_usage_error(monkeypatch, capsys):
    """Exit 2 means the user's input or configuration; a KeyError from a bug must surface."""
    def broken() -> list[str]:
        raise KeyError("internal table")

    monkeypatch.setattr("forensics.cli.signals.signal_names", broken)
    with pytest.raises(KeyError, match="internal table"):
        main(["signals"])
    assert main(["analyze", "--sample", "--signals", "nope"]) == 2  # UnknownSignalError still is
    assert "unknown signal 'nope'" in capsys.readouterr().err

