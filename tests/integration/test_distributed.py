"""The Ray backend (forensics.distributed) on a local Ray instance: the same rows as the local
pool, a file that kills or hangs its actor, the driver killed mid-scan and resumed
(test_distributed_cluster.py loses a node of a 2-node cluster).

Ray comes with the test extra; without it these tests skip. Ray runs small here (2 CPUs, a
150 MB object store, no dashboard) and is shut down at the end of the module, which checks
that none of its processes is left behind.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forensics.analysis import validate_row
from forensics.batch.scan import expand_inputs, scan
from forensics.cli.main import main
from support.batch_signals import EnvGated, Redness, Saboteur, Sharpness, batch_fusion, coloured
from support.images import camera_exif, encode, natural_rgb
from support.ray_session import STORE, assert_gone, session_dir, worker_pythonpath

pytestmark = pytest.mark.requires("ray")



def rows_of(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def by_path(rows):
    return {r["scan"]["path"]: r for r in rows}


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance (2 CPUs); its GCS address, for a second driver to join."""
    import ray

    with worker_pythonpath():  # the subprocess driver below inherits it too
        ray.init(num_cpus=2, object_store_memory=STORE, include_dashboard=False)
        session = session_dir()
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()
    assert_gone(session)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """40 inputs: JPEGs (with and without camera EXIF), PNGs, HEICs, a truncated JPEG and a
    file that is not an image."""
    d = tmp_path_factory.mktemp("mixed")
    for i in range(14):
        kw = {"exif": camera_exif()} if i % 2 else {}
        (d / f"j{i:02d}.jpg").write_bytes(encode(natural_rgb(96 + 8 * i, 128, seed=i), "JPEG", quality=70 + i, **kw))
    for i in range(14):
        (d / f"p{i:02d}.png").write_bytes(encode(coloured(80, 96 + 4 * i, i), "PNG"))
    for i in range(10):
        (d / f"h{i:02d}.heic").write_bytes(encode(natural_rgb(64, 80 + 8 * i, seed=100 + i), "HEIC", quality=80))
    jpeg = encode(natural_rgb(160, 160, seed=7), "JPEG", quality=90)
    (d / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (d / "notes.png").write_bytes(b"these bytes are not a picture\n" * 4)
    assert len(expand_inputs([d])) == 40
    return d


def test_ray_rows_equal_the_local_pools(local_ray, mixed, tmp_path, capsys):
    local, distributed = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    scan([mixed], local, workers=2)  # the default engine: every signal that runs here
    code = main(["scan", str(mixed), "-o", str(distributed), "--backend", "ray", "--num-cpus", "2", "--no-progress", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1 and summary["inputs"] == summary["analysed"] == 40 and summary["workers"] == 2
    assert summary["error_types"] == {"ImageLoadError": 1}

    want, got = by_path(rows_of(local)), by_path(rows_of(distributed))
    assert len(got) == len(rows_of(distributed)) == 40
    assert got == want  # rows carry no timing fields, so every field must agree
    names = {os.path.basename(p): r for p, r in got.items()}
    assert names["cut.jpg"]["image"]["truncated"] is True
    assert "not a recognised image" in names["notes.png"]["error"]["message"]
    assert {names[f"h{i:02d}.heic"]["image"]["format"] for i in range(10)} == {"HEIF"}
    assert len({r["verdict"] for r in got.values() if "verdict" in r}) >= 1
    for row in got.values():
        validate_row(row)

    again = main(["scan", str(mixed), "-o", str(distributed), "--backend", "ray", "--no-progress", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert again == 1 and summary["analysed"] == 0 and summary["skipped"] == 40  # resumed: nothing redone
    assert len(rows_of(distributed)) == 40


def test_analyze_dataset_reads_bytes_with_rays_reader_and_gives_the_same_rows(local_ray, mixed, tmp_path):
    import ray

    from forensics.distributed import RESULT_COLUMNS, analyze_dataset

    local = tmp_path / "local.jsonl"
    scan([mixed], local, workers=0, signals=[Redness(), Sharpness()], fusion=batch_fusion())
    want = by_path(rows_of(local))
    ds = ray.data.read_binary_files(str(mixed), include_paths=True)
    out = analyze_dataset(ds, path_column="path", bytes_column="bytes", signals=[Redness(), Sharpness()],
                          fusion=batch_fusion())  # autoscaling: the read tasks need CPUs too
    rows = out.take_all()
    assert len(rows) == 40 and set(rows[0]) == set(RESULT_COLUMNS)
    got = {r["path"]: json.loads(r["result"]) for r in rows}
    assert got == want  # the bytes Ray read give the rows the files give
    flat = {os.path.basename(r["path"]): r for r in rows}
    assert flat["notes.png"]["error_type"] == "ImageLoadError" and flat["notes.png"]["verdict"] is None
    assert flat["p00.png"]["verdict"] == want[str(mixed / "p00.png")]["verdict"]
    assert flat["p00.png"]["probability"] == want[str(mixed / "p00.png")]["probability"]
    assert flat["p00.png"]["sha256"] == want[str(mixed / "p00.png")]["sha256"]

    by_name = analyze_dataset(ray.data.from_items([{"file": str(mixed / "j00.jpg")}]), path_column="file",
                              signals=[Redness()], actors=1).take_all()  # actors read the path themselves
    assert json.loads(by_name[0]["result"])["source"] == str(mixed / "j00.jpg")
    with pytest.raises(Exception, match="the dataset has no column 'path'"):
        analyze_dataset(ray.data.from_items([{"file": "x.png"}]), signals=[Redness()], actors=1).take_all()


@pytest.mark.filterwarnings("ignore:.*noisy false-positive rate")
def test_a_calibration_and_a_signal_list_reach_the_actors(local_ray, tmp_path, monkeypatch):
    import ray

    from forensics.calibration import fit_calibration
    from forensics.distributed import analyze_dataset
    from forensics.distributed import scan as ray_scan

    real = tmp_path / "real"
    real.mkdir()
    for i in range(24):
        (real / f"r{i:02d}.png").write_bytes(encode(coloured(40, 48, i), "PNG"))
    options = dict(signals=[Redness(), Sharpness()], fusion=batch_fusion())
    cal = fit_calibration(real, target_fpr=0.05, **options)
    cal.save(tmp_path / "cal.json")
    d = tmp_path / "in"
    d.mkdir()
    for i in range(6):
        (d / f"x{i}.png").write_bytes(encode(coloured(40, 40, 50 + i), "PNG"))
    local, distributed = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    monkeypatch.chdir(tmp_path)  # a relative input: the actors read it from this directory too
    scan(["in"], local, workers=0, calibration=cal, **options)
    ray_scan(["in"], distributed, calibration=cal, **options)
    want = by_path(rows_of(local))
    assert {r["source"] for r in want.values()} == {f"in/x{i}.png" for i in range(6)}
    assert by_path(rows_of(distributed)) == want
    assert {r["decision"]["method"] for r in want.values()} == {"conformal"}
    assert {tuple(s["name"] for s in r["signals"]) for r in want.values()} == {("redness", "sharpness")}
    rows = analyze_dataset(ray.data.from_items([{"path": r["source"]} for r in want.values()]),
                           calibration=str(tmp_path / "cal.json"), actors=1, **options).take_all()  # a calibration file
    assert by_path(json.loads(r["result"]) for r in rows) == want
    scan(["in"], tmp_path / "rare.jsonl", workers=0, calibration=cal, base_rate=0.01, **options)
    rare = by_path(rows_of(tmp_path / "rare.jsonl"))
    rows = analyze_dataset(ray.data.from_items([{"path": r["source"]} for r in want.values()]), calibration=cal,
                           actors=1, base_rate=0.01, **options).take_all()  # the base rate reaches the actors
    assert by_path(json.loads(r["result"]) for r in rows) == rare
    assert {r["base_rate"] for r in rare.values()} == {0.01}


def test_a_file_that_kills_or_hangs_its_actor_gets_an_error_row(local_ray, tmp_path, monkeypatch):
    d = tmp_path / "in"
    d.mkdir()
    for name, (h, w) in {"ok1.png": (40, 50), "crash.png": (40, 123), "hang.png": (40, 77), "ok2.png": (60, 50)}.items():
        (d / name).write_bytes(encode(coloured(h, w, 1), "PNG"))
    from forensics.distributed import scan as ray_scan

    out = tmp_path / "r.jsonl"
    monkeypatch.chdir(tmp_path)
    summary = ray_scan(["in"], out, signals=[Saboteur()], timeout=3, batch_size=2)  # relative, as typed
    rows = {os.path.basename(r["source"]): r for r in rows_of(out)}
    assert len(rows_of(out)) == 4 and set(rows) == {"ok1.png", "crash.png", "hang.png", "ok2.png"}
    assert rows["crash.png"]["error"]["type"] == "WorkerCrashed"
    assert "died while analysing this input, 2 times" in rows["crash.png"]["error"]["message"]
    assert rows["hang.png"]["error"]["type"] == "Timeout"
    assert "longer than the 3 s limit" in rows["hang.png"]["error"]["message"]
    assert "verdict" in rows["ok1.png"] and "verdict" in rows["ok2.png"]  # their batch-mates still have rows
    assert summary.errors == 2
    for row in rows.values():
        validate_row(row)


def test_an_actor_whose_settings_differ_from_the_drivers_refuses_to_run(local_ray, tmp_path, monkeypatch):
    (tmp_path / "a.png").write_bytes(encode(coloured(32, 32, 1), "PNG"))
    from forensics import ForensicsError
    from forensics.distributed import scan as ray_scan

    monkeypatch.setenv("FORENSICS_TEST_GATE", "1")  # here only: the Ray workers started without it
    out = tmp_path / "r.jsonl"
    with pytest.raises(ForensicsError, match="gives other settings .* than the driver's"):
        ray_scan([tmp_path], out, signals=[EnvGated()])
    assert not out.exists() or out.read_bytes() == b""  # no row that would differ was written


def test_driver_killed_mid_scan_then_rerun_loses_and_duplicates_nothing(local_ray, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(40):
        (d / f"f{i:02d}.png").write_bytes(encode(coloured(32, 32, i), "PNG"))
    out = tmp_path / "results.jsonl"
    code = ("from forensics.distributed import scan\nfrom support.batch_signals import Redness\n"
            f"scan([{str(d)!r}], {str(out)!r}, address={local_ray!r}, signals=[Redness(delay=0.15)], batch_size=2)\n")

    def defaults():  # a suite run as a background job inherits SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, "-c", code], preexec_fn=defaults,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the scan ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = out.read_bytes().count(b"\n")
    assert 4 <= before < 40

    from forensics.distributed import scan as ray_scan

    summary = ray_scan([d], out, signals=[Redness(delay=0.15)], batch_size=2)
    assert summary.skipped + summary.analysed == 40 and summary.skipped >= before
    rows = rows_of(out)
    paths = [r["scan"]["path"] for r in rows]
    assert len(paths) == len(set(paths)) == 40
    for row in rows:
        validate_row(row)


def test_import_forensics_does_not_import_ray_and_the_cli_checks_its_options(tmp_path, capsys):
    code = ("import sys, forensics, forensics.batch.scan, forensics.batch.pool, forensics.cli.main\n"
            "print('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    assert main(["scan", str(tmp_path), "-o", str(tmp_path / "r.jsonl"), "--address", "auto"]) == 2
    assert "--address and --num-cpus need --backend ray" in capsys.readouterr().err
    assert main(["scan", str(tmp_path), "-o", str(tmp_path / "r.jsonl"), "--backend", "ray", "--num-cpus", "0"]) == 2
    assert "--num-cpus must be 1 or more" in capsys.readouterr().err
