"""Hostile input through the CLI and the API (issue 22): non-regular files, terminal and CSV
injection, non-UTF-8 names, glob loops, odd result rows, absurd fusion numbers, ``-o`` over a
file that is not a results file, and error messages that neither trace back nor quote files."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from forensics.errors import ImageLoadError
from forensics.image import load_image
from support.images import encode, natural_rgb

CLI = [sys.executable, "-m", "forensics"]


def run(*args: str, timeout: float = 60, cwd: str | None = None) -> subprocess.CompletedProcess:
    """The CLI in a child process, so that a hang fails the test instead of stalling the suite."""
    return subprocess.run([*CLI, *args], capture_output=True, timeout=timeout, cwd=cwd or "/")


# -- 3. only regular files ---------------------------------------------------------------------
@pytest.fixture
def specials(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jpg"
    zero.symlink_to("/dev/zero")
    rand = tmp_path / "random.png"
    rand.symlink_to("/dev/urandom")
    return fifo, zero, rand


def test_the_api_refuses_fifos_and_devices_before_opening(specials):
    for path in specials:
        with pytest.raises(ImageLoadError, match="not a regular file"):
            load_image(path, max_bytes=1 << 20)


def test_analyze_answers_on_a_fifo_and_a_link_to_a_device(specials, tmp_path):
    good = tmp_path / "good.png"
    good.write_bytes(encode(natural_rgb(32, 32), "PNG"))
    proc = run("analyze", "-q", *map(str, specials), str(good), timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert err.count("not a regular file") == 3
    assert "good.png: " in proc.stdout.decode()


def test_analyze_r_and_calibrate_skip_non_regular_files(specials, tmp_path):
    folder = specials[0].parent
    (folder / "good.png").write_bytes(encode(natural_rgb(32, 32), "PNG"))
    proc = run("analyze", "-r", "-q", str(folder), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert [line.split(":")[0] for line in proc.stdout.decode().splitlines()] == [str(folder / "good.png")]
    from forensics.calibration.calibration import expand_sources

    assert expand_sources(folder) == [str(folder / "good.png")]


# -- 4, 5, 7: what files say reaches terminals and spreadsheets escaped -------------------------
META = "exif,jpeg_tables,generator_metadata"
FORGED = "holiday.jpg: likely camera original (P 0.01)\n\x1b[8m"
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
FORMULA = '=HYPERLINK("http://x.test/","open")'


@pytest.fixture
def hostile(tmp_path):
    """An AI image with a forged name, a screen-clearing camera Make, a checkpoint name that
    sets the window title, and a formula as its name; plus the metadata-only fusion."""
    from PIL import PngImagePlugin

    import piexif

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", f"a cat\nSteps: 20, Sampler: Euler, Seed: 1, Model: {TITLE}sdxl_base, Version: v1.9.0")
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: f"{CLEAR}Canon".encode(), piexif.ImageIFD.Model: FORMULA.encode()}})
    data = encode(natural_rgb(48, 64), "PNG", pnginfo=info, exif=exif)
    names = [FORGED + ".png", "=1+2.png", "caf\udce9.png"]  # the last is the byte 0xe9: not UTF-8
    for n in names:
        (tmp_path / n).write_bytes(data)
    fusion = tmp_path / "fusion.json"
    fusion.write_text(json.dumps({
        "format": "forensics.fusion", "format_version": 1, "intercept": 0.0,
        "features": [{"name": "exif", "kind": "prior", "coef": 1.5}, {"name": "jpeg_tables", "kind": "prior", "coef": 1.0},
                     {"name": "generator_metadata", "kind": "prior", "coef": 12.0, "decisive_at": 0.9}],
        "thresholds": {"ai": 0.9, "real": 0.2}, "provenance": {"name": "meta-test"}}))
    return [str(tmp_path / n) for n in names], ["--signals", META, "--fusion", str(fusion)]


def _live_controls(text: str) -> list[str]:
    return sorted({c for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F
                   or 0x2028 <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069})


def test_terminal_output_carries_no_live_control_characters(hostile, capsys):
    from forensics.cli.main import main

    files, opts = hostile
    assert main(["analyze", "-q", *opts, *files]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 3  # the forged name makes no extra line
    assert lines[0].startswith(files[0].replace("\n", "\\n").replace("\x1b", "\\x1b") + ": ")
    assert "AI-generated" in lines[0]
    assert not _live_controls(out.out + out.err)
    assert main(["analyze", *opts, *files]) == 0
    out = capsys.readouterr()
    assert not _live_controls(out.out + out.err)
    assert "\\x1b[2JCanon" in out.out or "\\x1b]0;pwned\\x07" in out.out
    assert "caf\\xe9.png" in out.out


def test_errors_name_files_escaped(tmp_path, capsys):
    from forensics.cli.main import main

    bad = tmp_path / f"{CLEAR}nope\n.png"
    bad.write_bytes(b"not an image at all")
    assert main(["analyze", "--signals", META, str(bad)]) == 1
    err = capsys.readouterr().err
    assert "\\x1b[2Jnope\\n.png: not a recognised image" in err and not _live_controls(err)


def _csv_cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def test_csv_outputs_hold_no_formulas(hostile, tmp_path, capsys):
    from forensics.cli.main import main

    files, opts = hostile
    assert main(["analyze", "--format", "csv", *opts, *files]) == 0
    cells = _csv_cells(capsys.readouterr().out)
    out = tmp_path / "scan.jsonl"
    assert main(["scan", *files, "-o", str(out), "--csv", str(tmp_path / "scan.csv"), "--workers", "0",
                 "--no-progress", *opts]) == 0
    capsys.readouterr()
    cells += _csv_cells((tmp_path / "scan.csv").read_text(encoding="utf-8"))
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r")) and not _number(c)]
    assert not [c for c in cells if _live_controls(c)]
    assert "'" + str(tmp_path / "=1+2.png") not in cells  # a path starts with "/": only its tail is odd
    assert str(tmp_path / "caf\\xe9.png") in cells  # the name's byte, escaped losslessly
    assert not list(tmp_path.glob(".*.tmp"))


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_relative_formula_names_are_neutralised(hostile, capsys):
    from forensics.cli.main import main

    files, opts = hostile
    cwd = os.getcwd()
    os.chdir(os.path.dirname(files[1]))
    try:
        assert main(["analyze", "--format", "csv", *opts, "=1+2.png"]) == 0
    finally:
        os.chdir(cwd)
    cells = _csv_cells(capsys.readouterr().out)
    assert "'=1+2.png" in cells and "=1+2.png" not in cells


def test_the_safe_layer_is_lossless():
    from forensics.safe import csv_cell, escape, unescape

    for text in [FORGED, CLEAR + TITLE, "caf\udce9", "a\\x1b", "\x85\u2028\ud800", "gpj.\u202eexe", "plain"]:
        assert unescape(escape(text)) == text
        assert not _live_controls(escape(text))
    assert [csv_cell(v) for v in ("=1+2", "+1", "-x", "@a", "\tx", "\rx", -1.5, 3, None, "ok")] == [
        "'=1+2", "'+1", "'-x", "'@a", "'\\tx", "'\\rx", "-1.5", "3", "", "ok"]


# -- 6. globs ----------------------------------------------------------------------------------
def test_globs_follow_no_symlink_loops_and_list_each_file_once(tmp_path):
    from forensics.batch.scan import expand_inputs

    root = tmp_path / "dir"
    (root / "sub").mkdir(parents=True)
    for p in (root / "a.jpg", root / "sub" / "b.jpg", root / "sub" / "c.png"):
        p.write_bytes(b"x")
    (root / "sub" / "up1").symlink_to("..")
    (root / "sub" / "up2").symlink_to("..")
    (root / "again.jpg").symlink_to(root / "a.jpg")
    code = ("import sys; from forensics.batch.scan import expand_inputs; "
            "print('\\n'.join(expand_inputs([sys.argv[1]])))")
    proc = subprocess.run([sys.executable, "-c", code, f"{root}/**/*.jpg"], capture_output=True, timeout=60, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f"{root}/a.jpg", f"{root}/sub/b.jpg"]
    assert expand_inputs([f"{root}/**/*.png", f"{root}/sub/*"]) == [f"{root}/sub/c.png", f"{root}/sub/b.jpg"]
    assert expand_inputs([f"{root}/*.jpg"]) == [f"{root}/a.jpg"]  # again.jpg is a.jpg
    (root / ".hidden.jpg").write_bytes(b"x")
    assert f"{root}/.hidden.jpg" not in expand_inputs([f"{root}/**/*.jpg"])  # as glob: * skips dot files


# -- 8. one odd row does not sink the report; the report reads only results files --------------
@pytest.fixture
def results(hostile, tmp_path):
    from forensics.batch.scan import scan
    from forensics.fusion import LogisticFusion

    files, opts = hostile
    out = tmp_path / "results.jsonl"
    scan(files, out, workers=0, signals=META.split(","), fusion=LogisticFusion.load(opts[-1]))
    return out


def _odd_rows(good: dict) -> list[str]:
    def variant(**changes):
        row = json.loads(json.dumps(good))
        row["scan"] = {**row["scan"], "path": f"/odd/{len(changes)}-{sorted(changes)}"}
        for k, v in changes.items():
            if k == "contribution":
                row["signals"][0]["contribution"] = v
            elif k == "heatmap":
                row["signals"][0]["heatmap"] = v
            else:
                row[k] = v
        return json.dumps(row)

    big = [[0.5] * 300 for _ in range(200)]
    return [variant(probability=1e308), variant(probability=-5), variant(logit="logit-text-never-quoted"), variant(intercept=[1]),
            variant(contribution=float("nan")), "[1, 2]", "not json", variant(heatmap=big)]


def test_odd_rows_are_listed_unreadable_and_the_page_renders(results, tmp_path):
    from forensics.batch.report import build_report

    good = json.loads(results.read_text(encoding="utf-8").splitlines()[0])
    odd = _odd_rows(good)
    with open(results, "a", encoding="utf-8") as fh:
        fh.write("\n".join(odd) + "\n")
        fh.write('{"schema": "forensics.analysis", "pad": "' + "x" * (9 << 20) + '"}\n')
    page = tmp_path / "r.html"
    summary = build_report(results, page, thumbnails=False)
    html_text = page.read_text(encoding="utf-8")
    assert summary.results == 4 and summary.unreadable == 8
    for n, why in [(4, "probability"), (5, "probability"), (6, "logit"), (7, "intercept"), (8, "not a finite number"),
                   (9, "not a JSON object"), (10, "not JSON"), (12, "above the")]:
        assert re.search(f"line {n}</td><td>unreadable row</td><td>[^<]*{why}", html_text), (n, why)
    assert "logit-text-never-quoted" not in html_text.split("Inputs that could not")[1]  # reasons never quote the row
    assert "heatmap dropped" in html_text  # the oversized map, with a note; its row still shown
    assert "caf\\\\xe9.png" in html_text or "caf\\xe9.png" in html_text


def test_report_refuses_what_is_not_a_results_file(tmp_path, capsys):
    from forensics.cli.main import main

    image = tmp_path / "photo.jpg"
    image.write_bytes(encode(natural_rgb(32, 32), "JPEG"))
    assert main(["report", str(image), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "not a results file" in err and f"-o {image}" not in err
    assert not (tmp_path / "r.html").exists()
    assert main(["report", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "r.html")]) == 2
    assert "-o " + str(tmp_path / "missing.jsonl") not in capsys.readouterr().err


def test_report_never_writes_over_a_file_that_is_not_a_report(results, tmp_path, capsys):
    from forensics.cli.main import main

    precious = tmp_path / "precious.jpg"
    data = encode(natural_rgb(32, 32), "JPEG")
    precious.write_bytes(data)
    assert main(["report", str(results), "-o", str(precious), "--no-thumbnails"]) == 2
    assert "precious.jpg" in capsys.readouterr().err and precious.read_bytes() == data
    page = tmp_path / "r.html"
    assert main(["report", str(results), "-o", str(page), "--no-thumbnails"]) == 0
    assert main(["report", str(results), "-o", str(page), "--no-thumbnails"]) == 0  # a report is rewritten


# -- 10. -o never writes into a file that is not a results file ----------------------------------
def test_scan_o_refuses_an_existing_file_that_is_not_a_results_file(hostile, tmp_path, capsys):
    from forensics.cli.main import main

    files, opts = hostile
    precious = tmp_path / "precious.jpg"
    data = encode(natural_rgb(32, 32), "JPEG")
    precious.write_bytes(data)
    assert main(["scan", files[1], "-o", str(precious), "--workers", "0", "--no-progress", *opts]) == 2
    assert "precious.jpg" in capsys.readouterr().err
    assert precious.read_bytes() == data
    out = tmp_path / "results.jsonl"
    out.write_text('{"schema": "forensics.analysis", "schema_version": 2, "sou')  # a scan killed in its first row
    assert main(["scan", files[1], "-o", str(out), "--workers", "0", "--no-progress", *opts]) == 0
    assert len(out.read_text().splitlines()) == 1


# -- 11. no traceback, no file content in messages -----------------------------------------------
def test_a_link_loop_is_an_error_row_without_a_traceback(tmp_path):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    proc = run("scan", str(loop), "-o", str(tmp_path / "r.jsonl"), "--workers", "0", "--no-progress",
               "--signals", META, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err
    assert "loop.jpg: cannot read" in err


def test_messages_never_quote_the_file(tmp_path):
    secret = b"SHELL=/bin/sh\0PASSWORD=hunter2\0"
    for name, data in [("env.jpg", secret), ("tiff.tif", b"II*\0" + secret), ("png.png", b"\x89PNG\r\n\x1a\n" + secret)]:
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ImageLoadError) as info:
            load_image(p)
        msg = str(info.value)
        for token in ("SHELL", "hunter2", "5348454c", "PASS"):
            assert token not in msg, msg


def test_the_report_csv_export_neutralises_formulas():
    """The page's own cell() function, run by Node: the export a reviewer opens in a spreadsheet."""
    import shutil

    from forensics.batch.report import JS

    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    cell = re.search(r"function cell\(v\)\{.*?\n.*?\}", JS, re.S).group(0)
    values = ["=1+2.jpg", FORMULA, "+x", "-x", "@x", "\tx", "plain, with comma", 'say "hi"', None]
    script = f"{cell}\nconsole.log(JSON.stringify({json.dumps(values)}.map(cell)));"
    out = json.loads(subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30, check=True).stdout)
    assert out == ["'=1+2.jpg", '"\'=HYPERLINK(""http://x.test/"",""open"")"', "'+x", "'-x", "'@x", "'\tx",
                   '"plain, with comma"', '"say ""hi"""', ""]


def test_calibrate_o_never_overwrites_a_file_that_is_not_a_calibration(tmp_path, capsys):
    from forensics.cli.main import main

    precious = tmp_path / "precious.jpg"
    data = encode(natural_rgb(32, 32), "JPEG")
    precious.write_bytes(data)
    (tmp_path / "real").mkdir()
    assert main(["calibrate", "--real", str(tmp_path / "real"), "-o", str(precious), "--signals", "exif"]) == 2
    assert "precious.jpg: exists and is not a calibration file" in capsys.readouterr().err
    assert precious.read_bytes() == data


def test_a_fifo_given_as_a_file_list_is_refused(tmp_path):
    from forensics.batch.scan import expand_inputs
    from forensics.errors import ForensicsError

    fifo = tmp_path / "list.txt"
    os.mkfifo(fifo)
    with pytest.raises(ForensicsError, match="not a regular file"):
        expand_inputs([f"@{fifo}"])


def test_log_lines_name_files_escaped(tmp_path):
    proc = run("scan", f"{tmp_path}/{CLEAR}*.nothing", "-o", str(tmp_path / "r.jsonl"), "--workers", "0",
               "--no-progress", "--signals", META, timeout=120)
    err = proc.stderr.decode()
    assert "\\x1b[2J*.nothing: the pattern matched nothing" in err and not _live_controls(err)
