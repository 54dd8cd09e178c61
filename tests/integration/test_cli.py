import json
import os
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
    text = capsys.readouterr()
    row = json.loads(text.out)
    validate_row(row)
    assert row["decision"]["method"] == "conformal" and row["calibration"]["n_real"] == 20
    assert row["decision"]["p_value_floor"] == pytest.approx(1 / 21)
    # once per run: 20 reals give p in steps of 1/21, and alpha 0.05 is a single step
    assert text.err.splitlines()[-1] == (
        "forensics: note: calibration: 20 known-real images give p-values in steps of 1/21 = 0.0476, the smallest "
        "reachable; alpha 0.05 is only 1 step(s), so the false-positive rate is coarse and every image above all "
        "the reals shows p = 0.0476; about 199 reals give 10 steps")
    assert main(["analyze", "--calibration", str(out), str(fake / "f00.png")]) == 0
    block = capsys.readouterr().out
    d = row["decision"]
    k = round(d["p_value"] * 21) - 1
    seen = ("none of them scores as high; 0.0476 is the smallest p-value 20 reals can give" if k == 0
            else f"{k} of them score as high or higher")
    story = (f"  rule: calibration on 20 known-real images flags likely_ai at p <= 0.05: p {d['p_value']:.4f} ({seen}) -> "
             + (f"likely_ai; P(AI) {row['probability']:.3f} from the default fusion" if d["p_value"] <= 0.05 else
                f"not flagged; P(AI) {row['probability']:.3f} from the default fusion at base rate 0.5 is "
                f"{'at or below' if row['probability'] <= d['threshold_real'] else 'above'} its likely_real threshold "
                f"{d['threshold_real']:.2f} (likelihood ratio "))
    assert block.splitlines()[2].startswith(story), (block, story)
    assert f"-> {row['verdict']}" in block.splitlines()[2]
    assert block.splitlines()[1] == f"  {row['headline']}"
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
    assert main(["analyze", "-q", str(path)]) == 0
    assert capsys.readouterr().out == (f"{path}: AI-generated: embedded generation parameters (Automatic1111-compatible UI)"
                                       "; generator: Stable Diffusion 1.x via Automatic1111-compatible UI\n")
    assert main(["analyze", str(path)]) == 0
    assert "generator_metadata  [decisive] Automatic1111-compatible UI: embedded generation parameters" in capsys.readouterr().out


def test_an_internal_key_error_is_not_reported_as_a_usage_error(monkeypatch, capsys):
    """Exit 2 means the user's input or configuration; a KeyError from a bug must surface: as an
    internal error in one line (exit 70), and with -v as the exception itself."""
    def broken() -> list[dict]:
        raise KeyError("internal table")

    monkeypatch.setattr("forensics.cli.signals.signal_table", broken)
    assert main(["signals"]) == 70
    err = capsys.readouterr().err
    assert "internal error (KeyError: 'internal table'); rerun with -v" in err and "Traceback" not in err
    with pytest.raises(KeyError, match="internal table"):
        main(["-v", "signals"])
    assert main(["analyze", "--sample", "--signals", "nope"]) == 2  # UnknownSignalError still is
    assert "unknown signal 'nope'" in capsys.readouterr().err



# -- the readable output, exactly (metadata signals only: their scores are rules, not models) --
META = "exif,jpeg_tables,generator_metadata"


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    """Two images and a fusion over the metadata signals with the default fusion's priors."""
    d = tmp_path_factory.mktemp("meta")
    rgb = natural_rgb(200, 260, seed=5)
    (d / "camera.jpg").write_bytes(encode(rgb, "JPEG", quality=90, exif=camera_exif()))
    (d / "plain.png").write_bytes(encode(rgb, "PNG"))
    fusion = d / "fusion.json"
    fusion.write_text(json.dumps({
        "format": "forensics.fusion", "format_version": 1, "intercept": -0.5,
        "features": [{"name": "exif", "kind": "prior", "coef": 1.5}, {"name": "jpeg_tables", "kind": "prior", "coef": 1.0},
                     {"name": "generator_metadata", "kind": "prior", "coef": 12.0, "decisive_at": 0.9}],
        "thresholds": {"ai": 0.9, "real": 0.2}, "provenance": {"name": "meta-test"}}))
    return d, ["--signals", META, "--fusion", str(fusion)]


CAMERA_HEADLINE = ("inconclusive: camera EXIF (Canon EOS 5D Mark IV, 60% complete), between the thresholds (P 0.22); "
                   "no pixel signal ran; no provenance")
PLAIN_HEADLINE = "inconclusive: no finding either way (P 0.41); no pixel signal ran; no provenance, no camera record"


def test_one_compact_block_per_file(meta, capsys):
    d, opts = meta
    cam, png = d / "camera.jpg", d / "plain.png"
    assert main(["analyze", *opts, str(cam), str(png)]) == 0
    out = capsys.readouterr()
    # camera record 60 % complete: 1.5 * (0.1 - 1.1 * 0.6) = -0.84; library tables +0.1; logit -1.24
    # thresholds as likelihood ratios: odds 9 and 1/4 less the intercept's e^-0.5: 14.8 and 1/2.43
    assert out.out == f"""{cam}
  {CAMERA_HEADLINE}
  rule: meta-test fusion at base rate 0.5, likely_ai at P(AI) >= 0.90 (likelihood ratio >= 14.8), likely_real at P(AI) <= 0.20 (likelihood ratio <= 1/2.43): P(AI) 0.224 -> inconclusive
  log-odds (+ towards AI, - towards real; with the prior they add up to the logit):
    -0.84  exif                camera record Canon EOS 5D Mark IV, 60% complete
    +0.10  jpeg_tables         standard IJG tables at quality 90 (written by a library)
    -0.50  (prior)             base rate 0.5, fusion intercept -0.50
    -1.24  = logit             P(AI) 0.224
  found nothing, no weight: generator_metadata (absence proves nothing)

{png}
  {PLAIN_HEADLINE}
  rule: meta-test fusion at base rate 0.5, likely_ai at P(AI) >= 0.90 (likelihood ratio >= 14.8), likely_real at P(AI) <= 0.20 (likelihood ratio <= 1/2.43): P(AI) 0.413 -> inconclusive
  log-odds (+ towards AI, - towards real; with the prior they add up to the logit):
    +0.15  exif                no EXIF: a weak hint towards AI (generators write none, but screenshots, social networks and editors strip it too)
    -0.50  (prior)             base rate 0.5, fusion intercept -0.50
    -0.35  = logit             P(AI) 0.413
  found nothing, no weight: generator_metadata (absence proves nothing)
  did not score: jpeg_tables (not a JPEG (format PNG))
"""
    assert out.err == ""
    from forensics import Engine
    from forensics.fusion import LogisticFusion

    eng = Engine(META.split(","), fusion=LogisticFusion.load(opts[-1]))
    assert eng.analyze(str(cam)).explain() + "\n" == out.out.split("\n\n")[0] + "\n"  # explain() is the CLI block


def test_quiet_is_one_line_per_file(meta, capsys):
    d, opts = meta
    assert main(["analyze", "-q", *opts, str(d / "camera.jpg"), str(d / "plain.png")]) == 0
    assert capsys.readouterr().out == f"{d / 'camera.jpg'}: {CAMERA_HEADLINE}\n{d / 'plain.png'}: {PLAIN_HEADLINE}\n"


def test_formats_jsonl_json_alias_and_csv(meta, capsys):
    d, opts = meta
    files = [str(d / "camera.jpg"), str(d / "nope.png")]
    assert main(["analyze", "--format", "jsonl", *opts, *files]) == 1
    jsonl = capsys.readouterr().out
    assert main(["analyze", "--json", *opts, *files]) == 1
    assert capsys.readouterr().out == jsonl
    rows = [json.loads(line) for line in jsonl.splitlines()]
    for row in rows:
        validate_row(row)
    assert rows[0]["headline"] == CAMERA_HEADLINE and rows[0]["basis"] == {"kind": "camera_metadata", "signals": ["exif"]}
    assert rows[1]["error"] == {"type": "ImageLoadError", "message": f"{files[1]}: no such file"}
    assert main(["analyze", "--format", "csv", *opts, *files]) == 1
    lines = capsys.readouterr().out.splitlines()
    sha = rows[0]["sha256"]
    assert lines == [
        "source,sha256,probability,verdict,basis,headline,generator,generator_basis,decisive,p_value,decoded_share,"
        "contribution_exif,contribution_jpeg_tables,contribution_generator_metadata,error",
        f'{files[0]},{sha},0.224436,inconclusive,camera_metadata,"{CAMERA_HEADLINE}",,,,,1,-0.84,0.1,0,',
        f"{files[1]},,,,,,,,,,,,,,ImageLoadError: {files[1]}: no such file",
    ]
    assert main(["analyze", "--json", "--format", "csv", *opts, *files]) == 2
    assert "--json is --format jsonl; it cannot be combined with --format csv" in capsys.readouterr().err
    assert main(["analyze", "-q", "--format", "jsonl", *opts, *files]) == 2
    assert "-q is one line of text per file; it cannot be combined with --format jsonl" in capsys.readouterr().err


def test_unavailable_signals_are_listed_once_per_run(meta, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FORENSICS_HOME", str(tmp_path))  # no weights here
    d, _ = meta
    files = [str(d / "camera.jpg"), str(d / "plain.png")]
    assert main(["analyze", "--signals", "exif,sumsub_sd5", *files]) == 0
    out = capsys.readouterr()
    weights = tmp_path / "weights"
    assert out.err == (
        "forensics: note: 1 signal(s) not available here, adding nothing to any result: sumsub_sd5\n"
        f"  sumsub_sd5: no weights 'sumsub_sd5' in {weights}: run `forensics weights download sumsub_sd5` (needs internet "
        "and `pip install 'forensics[convert]'`) or `forensics weights add sumsub_sd5 PATH` with a local copy of diffusions5M.pt\n")
    assert "sumsub_sd5" not in out.out and "unavailable" not in out.out
    assert out.out.count("\n  rule: ") == 2
    assert main(["analyze", "-q", "--json", "--signals", "exif,sumsub_sd5", files[0]]) == 2  # (usage) and jsonl rows keep not_run
    capsys.readouterr()
    assert main(["analyze", "--json", "--signals", "exif,sumsub_sd5", files[0]]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["not_run"][0]["name"] == "sumsub_sd5" and row["degraded"] is True


def test_no_doubled_status_words_and_no_signal_probability_beside_p(files, capsys):
    """The default signals on a PNG: abstentions say their reason once, exif's weight is worded
    as a weak hint, the dct line gives log-odds, not a second probability."""
    d, _, _ = files
    assert main(["analyze", str(d / "plain.png")]) == 0
    out = capsys.readouterr().out
    assert "unavailable unavailable" not in out and "abstained: abstained" not in out and "abstained  abstained" not in out
    assert "p(AI)" not in out
    signal_lines = [x for x in out.splitlines() if x[:9].strip()[:1] in ("+", "-") and "= logit" not in x]
    assert {x.split()[1] for x in signal_lines} >= {"effnet_probe", "exif", "(prior)"}
    assert not any("P(AI)" in x or "probability" in x for x in signal_lines)
    for line in out.splitlines():
        if "proves nothing" in line:  # only said of signals that add no weight
            assert "+0.00" not in line and line.startswith("  found nothing, no weight:"), line
    assert "  did not score: jpeg_tables (not a JPEG (format PNG))" in out
    assert "exif                no EXIF: a weak hint towards AI" in out


def test_fail_on_gives_an_exit_status(meta, capsys):
    d, opts = meta
    cam = str(d / "camera.jpg")
    assert main(["analyze", "-q", "--fail-on", "inconclusive", *opts, cam]) == 3
    assert main(["analyze", "-q", "--fail-on", "likely_ai,likely_real", *opts, cam]) == 0
    assert main(["analyze", "-q", "--fail-on", "inconclusive", *opts, cam, str(d / "nope.png")]) == 3  # a match wins over 1
    capsys.readouterr()
    assert main(["analyze", "--fail-on", "ai", *opts, cam]) == 2
    assert capsys.readouterr().err == (
        "forensics analyze: --fail-on takes verdicts among likely_ai, likely_real, inconclusive; got 'ai'\n")


def test_stdin_dash(meta):
    d, opts = meta
    data = (d / "camera.jpg").read_bytes()
    run = subprocess.run([sys.executable, "-m", "forensics", "analyze", "-q", *opts, "-"], input=data,
                         capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode() == f"<stdin>: {CAMERA_HEADLINE}\n"
    run = subprocess.run([sys.executable, "-m", "forensics", "analyze", "--json", *opts, "-"], input=b"not an image",
                         capture_output=True, timeout=300)
    assert run.returncode == 1
    assert json.loads(run.stdout)["source"] == "<stdin>"
    assert run.stderr.decode() == ("forensics: error: <stdin>: not a recognised image (looks like text); "
                                   "supported: JPEG, PNG, WebP, TIFF, GIF, BMP, HEIC/HEIF, AVIF\n")
    primary, secondary = os.openpty()  # standard input a terminal: refused, not waited on
    try:
        run = subprocess.run([sys.executable, "-m", "forensics", "analyze", *opts, "-"], stdin=secondary,
                             capture_output=True, timeout=300)
    finally:
        os.close(primary), os.close(secondary)
    assert run.returncode == 2
    assert run.stderr.decode() == ("forensics analyze: `-` reads an image from standard input, which is a terminal here; "
                                   "pipe or redirect a file into it\n")
    run = subprocess.run([sys.executable, "-m", "forensics", "analyze", "-", "-"], input=data, capture_output=True, timeout=300)
    assert run.returncode == 2 and b"`-` (standard input) can be given once" in run.stderr


def test_folders_need_r_and_urls_are_never_fetched(meta, tmp_path, capsys):
    d, opts = meta
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes((d / "plain.png").read_bytes())
    (tmp_path / "a.jpg").write_bytes((d / "camera.jpg").read_bytes())
    (tmp_path / "notes.txt").write_text("not an image, not picked up")
    assert main(["analyze", "-q", *opts, str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (f"forensics: error: {tmp_path}: is a folder; pass -r to analyse the images in it, or run "
                       f"`forensics scan {tmp_path} -o results.jsonl` for a resumable batch\n")
    assert main(["analyze", "-q", "-r", *opts, str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'a.jpg'}: {CAMERA_HEADLINE}\n{tmp_path / 'sub' / 'b.png'}: {PLAIN_HEADLINE}\n"
    (tmp_path / "empty").mkdir()
    assert main(["analyze", "-q", "-r", *opts, str(tmp_path / "empty")]) == 1
    assert capsys.readouterr().err == f"forensics analyze: {tmp_path / 'empty'}: no image files in this folder\n"
    assert main(["analyze", "-q", *opts, "https://example.com/photo.jpg"]) == 1
    assert capsys.readouterr().err == (
        "forensics: error: https://example.com/photo.jpg: URLs are never fetched; download the file first\n")


def test_help_explains_log_odds_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "its contribution in log-odds (natural log of the odds): + pushes towards AI, - towards real" in text
    assert "P(AI) = 1 / (1 + e^-logit). +0.7 doubles the odds, +2.3 multiplies them by 10" in text
    assert '"no AI evidence found" (the pixel signals found none; nothing vouches for a camera, so this is not "real")' in text
    assert ("Exit codes: 0 every file analysed; 1 some inputs could not be read (each is named on stderr, the others are "
            "still reported); 2 usage or configuration error; 3 --fail-on matched at least one file") in text


def test_scan_names_each_error_and_a_missing_path_is_a_usage_error(files, tmp_path, capsys):
    d, _, bad = files
    out = tmp_path / "r.jsonl"
    assert main(["scan", "/no/such/dir", "-o", str(out), "--workers", "0", "--no-progress"]) == 2
    assert capsys.readouterr().err == "forensics scan: /no/such/dir: no such file or folder\n"
    assert not out.exists()
    assert main(["scan", "https://example.com/a.jpg", "-o", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == "forensics scan: https://example.com/a.jpg: URLs are never fetched; download the files first\n"
    paths = [str(d / n) for n in bad]
    assert main(["scan", *paths, "-o", str(out), "--workers", "0", "--no-progress", "--signals", "exif"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"forensics: error: {d / 'bomb.png'}: image of 900,000,000 pixels exceeds Pillow's decompression-bomb limit "
        "(refused before decoding); to admit it, raise PIL.Image.MAX_IMAGE_PIXELS and max_pixels (ImageLoadError)",
        f"forensics: error: {d / 'notes.jpg'}: not a recognised image (looks like text); supported: JPEG, PNG, WebP, "
        "TIFF, GIF, BMP, HEIC/HEIF, AVIF (ImageLoadError)",
        f"forensics: error: {d / 'zero.jpg'}: file is empty (0 bytes) (ImageLoadError)",
    ]
