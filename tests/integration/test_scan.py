import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forensics.analysis import validate_row
from forensics.cli.main import main
from forensics.batch.results import CSV_COLUMNS, ResultsFile, read_results
from forensics.batch.scan import expand_inputs, scan
from support.batch_signals import Redness, Saboteur, Sharpness, WorkerEnv, batch_fusion, coloured
from support.images import encode, png_bomb

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Good images of several formats, hostile inputs, a sub-folder and a non-image file."""
    d = tmp_path_factory.mktemp("scan")
    (d / "sub").mkdir()
    for i in range(6):
        (d / f"img{i}.png").write_bytes(encode(coloured(48, 64, i), "PNG"))
    (d / "sub" / "photo.jpg").write_bytes(encode(coloured(64, 48, 9), "JPEG", quality=85))
    (d / "sub" / "pic.webp").write_bytes(encode(coloured(40, 40, 3), "WEBP"))
    jpeg = encode(coloured(96, 96, 4), "JPEG", quality=90)
    (d / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (d / "zero.png").write_bytes(b"")
    (d / "notes.jpg").write_bytes(b"<script>alert(1)</script> not an image\n")
    (d / "bomb.png").write_bytes(png_bomb(30000))
    (d / "readme.txt").write_text("not picked up when walking folders")
    (d / "folder.jpg").mkdir()  # a directory named like an image
    (d / "folder.jpg" / "inner.png").write_bytes(encode(coloured(32, 32, 5), "PNG"))
    return d


def rows_of(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_expand_inputs_folders_globs_and_lists(folder, tmp_path):
    walked = expand_inputs([folder])
    names = sorted(os.path.relpath(p, folder) for p in walked)
    assert "readme.txt" not in names and "folder.jpg/inner.png" in names and "sub/photo.jpg" in names
    assert "folder.jpg" not in names  # a folder is walked, not taken as an image
    globbed = expand_inputs([str(folder / "*.jpg")])
    assert sorted(os.path.basename(p) for p in globbed) == ["cut.jpg", "folder.jpg", "notes.jpg"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# comment\n{folder / 'img0.png'}\n\n{os.path.relpath(folder / 'img1.png', tmp_path)}\nmissing.png\n")
    listed = expand_inputs([f"@{listing}", str(folder / "img0.png")])  # duplicates dropped
    assert [os.path.basename(p) for p in listed] == ["img0.png", "img1.png", "missing.png"]


def test_scan_writes_one_valid_row_per_file_and_resumes(folder, tmp_path):
    out, table = tmp_path / "results.jsonl", tmp_path / "results.csv"
    inputs = [folder, str(folder / "*.jpg"), str(folder / "missing.png")]
    summary = scan(inputs, out, workers=2, signals=[Redness(), Sharpness()], fusion=batch_fusion(), csv_path=table)
    files = expand_inputs(inputs)
    rows = rows_of(out)
    assert len(rows) == len(files) == summary.inputs == summary.analysed
    assert sorted(r["scan"]["path"] for r in rows) == sorted(os.path.abspath(f) for f in files)
    for row in rows:
        validate_row(row)
        assert row["scan"]["settings"] == summary.settings
    by = {os.path.relpath(r["source"], folder): r for r in rows}
    assert by["cut.jpg"]["image"]["truncated"] is True
    assert "file is empty" in by["zero.png"]["error"]["message"]
    assert "not a recognised image" in by["notes.jpg"]["error"]["message"]
    assert "decompression-bomb" in by["bomb.png"]["error"]["message"]
    assert "is a directory" in by["folder.jpg"]["error"]["message"]
    assert "no such file" in by["missing.png"]["error"]["message"]
    assert by["img0.png"]["scan"]["sha256"] == by["img0.png"]["sha256"]
    assert by["zero.png"]["scan"]["sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert summary.errors == 5 and sum(summary.by_verdict.values()) == len(files) - 5
    assert len({r["verdict"] for r in rows if "verdict" in r}) >= 2  # the fixture spans verdicts

    with open(table, newline="", encoding="utf-8") as fh:
        header, *cells = list(csv.reader(fh))
    assert header == [*CSV_COLUMNS, "contribution_redness", "contribution_sharpness", "error"]
    assert len(cells) == len(files)
    csv_by = {os.path.relpath(c[0], folder): dict(zip(header, c)) for c in cells}
    cut = by["cut.jpg"]
    assert float(csv_by["cut.jpg"]["decoded_share"]) == cut["image"]["decoded_share"] < 1
    assert csv_by["cut.jpg"]["headline"] == cut["headline"]
    assert float(csv_by["img0.png"]["decoded_share"]) == 1
    assert csv_by["missing.png"]["error"].startswith("ImageLoadError: ") and csv_by["missing.png"]["verdict"] == ""

    again = scan(inputs, out, workers=2, signals=[Redness(), Sharpness()], fusion=batch_fusion())
    assert again.analysed == 0 and again.skipped == len(files) and again.errors == 5
    assert len(rows_of(out)) == len(files)

    (folder / "img0.png").write_bytes(encode(coloured(48, 64, 50), "PNG"))  # changed bytes: analysed again
    third = scan(inputs, out, workers=0, signals=[Redness(), Sharpness()], fusion=batch_fusion())
    assert third.analysed == 1
    assert len(read_results(out)) == len(files)  # the reader keeps the latest row per file

    other = scan(inputs, out, workers=0, signals=[Redness()], fusion=batch_fusion())  # other settings
    assert other.analysed == len(files) and other.settings != summary.settings


def test_workers_get_their_share_of_threads_and_the_parent_keeps_its_environment(tmp_path, monkeypatch):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(4):
        (d / f"{i}.png").write_bytes(encode(coloured(32, 32, i), "PNG"))
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # a user's own setting wins
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    out = tmp_path / "r.jsonl"
    scan([d], out, workers=2, signals=[WorkerEnv()], progress=False)
    rows = rows_of(out)
    assert len(rows) == 4 and os.getpid() not in {r["signals"][0]["evidence"]["pid"] for r in rows}
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    assert all(r["signals"][0]["evidence"]["env"] == {"OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": "7"}
               for r in rows)
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_partial_last_line_is_cut_and_redone(folder, tmp_path):
    out = tmp_path / "results.jsonl"
    scan([folder], out, workers=0, signals=[Redness()])
    rows = rows_of(out)
    text = out.read_text()
    last = text.splitlines()[-1]
    out.write_text(text[: -len(last) - 1] + last[: len(last) // 2])  # killed mid-write
    summary = scan([folder], out, workers=0, signals=[Redness()])
    assert summary.analysed == 1 and summary.skipped == len(rows) - 1
    again = rows_of(out)  # every line parses again
    assert sorted(r["scan"]["path"] for r in again) == sorted(r["scan"]["path"] for r in rows)
    with ResultsFile(out) as f:
        assert f.dropped_bytes == 0 and len(f.rows) == len(rows)


def test_output_is_locked_while_a_scan_writes(tmp_path):
    from forensics import ForensicsError

    with ResultsFile(tmp_path / "r.jsonl"):
        with pytest.raises(ForensicsError, match="another scan is writing this file"):
            ResultsFile(tmp_path / "r.jsonl").__enter__()


def test_worker_crash_and_hang_become_error_rows(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for name, (h, w) in {"ok1.png": (40, 50), "crash.png": (40, 123), "hang.png": (40, 77), "ok2.png": (60, 50)}.items():
        (d / name).write_bytes(encode(coloured(h, w, 1), "PNG"))
    out = tmp_path / "r.jsonl"
    summary = scan([d], out, workers=2, signals=[Saboteur()], timeout=3)
    by = {os.path.basename(r["source"]): r for r in rows_of(out)}
    assert set(by) == {"ok1.png", "crash.png", "hang.png", "ok2.png"}
    assert by["crash.png"]["error"]["type"] == "WorkerCrashed"
    assert "SIGKILL" in by["crash.png"]["error"]["message"]
    assert by["hang.png"]["error"]["type"] == "Timeout"
    assert "verdict" in by["ok1.png"] and "verdict" in by["ok2.png"]
    assert summary.errors == 2
    for row in by.values():
        validate_row(row)


def test_sigkill_mid_scan_then_rerun_gives_one_row_per_file(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(40):
        (d / f"f{i:02d}.png").write_bytes(encode(coloured(32, 32, i), "PNG"))
    out = tmp_path / "results.jsonl"
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
            "from forensics.batch.scan import scan\nfrom support.batch_signals import Redness\n"
            f"scan([{str(d)!r}], {str(out)!r}, workers=2, signals=[Redness(delay=0.15)])\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the scan ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = out.read_bytes().count(b"\n")
    assert 3 <= before < 40
    summary = scan([d], out, workers=2, signals=[Redness(delay=0.15)])
    assert summary.skipped + summary.analysed == 40
    rows = rows_of(out)
    paths = [r["scan"]["path"] for r in rows]
    assert len(paths) == len(set(paths)) == 40
    for row in rows:
        validate_row(row)


def test_cli_scan_summary_and_exit_codes(folder, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    code = main(["scan", str(folder / "sub"), "-o", str(out), "--workers", "0", "--no-progress", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["inputs"] == 2 and summary["errors"] == 0
    code = main(["scan", str(folder / "zero.png"), "-o", str(out), "--workers", "1", "--csv", str(tmp_path / "r.csv")])
    captured = capsys.readouterr()
    assert code == 1
    assert "1 analysed" in captured.out and "errors: 1 (ImageLoadError 1)" in captured.out
    assert "img/s" in captured.err  # the progress bar, with its rate
    assert main(["scan", str(folder), "-o", str(tmp_path), "--workers", "0"]) == 2
    assert "is a directory" in capsys.readouterr().err


def _bytes_read(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/io has no rchar line")


@pytest.mark.skipif(not Path("/proc/self/io").is_file(),
                    reason="needs /proc to see when the scan has opened and read back its output")
def test_ctrl_c_while_resuming_a_large_output_stops_cleanly(tmp_path):
    """Ctrl-C while a resumed scan reads back a large results file stops as Ctrl-C mid-scan does:
    the summary, "interrupted", exit code 130, no traceback, the file untouched."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "one.png").write_bytes(encode(coloured(32, 32, 1), "PNG"))
    out = tmp_path / "results.jsonl"
    pad = "x" * 120
    with open(out, "w") as fh:  # about 34 MB of earlier rows: over a second to read back
        for i in range(150_000):
            fh.write(json.dumps({"source": f"/elsewhere/{i}.png", "scan": {"settings": "old", "path": f"/elsewhere/{i}.png"},
                                 "pad": pad}) + "\n")
    size = out.stat().st_size
    proc = subprocess.Popen([sys.executable, "-m", "forensics", "scan", str(d), "-o", str(out), "--workers", "0",
                             "--signals", "exif", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell's background job inherits SIGINT ignored, and so would the scan
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        opened = False
        while not opened and time.monotonic() < deadline and proc.poll() is None:
            start = _bytes_read(proc.pid)  # taken before the output is seen open: none of it read yet
            for fd in Path(f"/proc/{proc.pid}/fd").glob("*"):
                try:
                    opened = opened or os.readlink(fd) == str(out)
                except OSError:
                    pass
            time.sleep(0.005)
        assert opened and proc.poll() is None, "the scan ended before it opened its output"
        # interrupt as soon as /proc's count of bytes read since then reaches the file's size: the
        # read-back is under way or parsing its 150,000 rows; no fixed sleep races it
        while _bytes_read(proc.pid) - start < size and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert proc.poll() is None, "the scan ended before it read its output back"
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert "interrupted: rerun the same command to finish (rows written so far are kept)" in stdout
    assert "0 analysed" in stdout
    assert out.stat().st_size == size
