import sys

import pytest

from forensics.malloc import ENV, reuse_pixel_buffers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")
def test_thresholds_are_set_on_glibc(monkeypatch):
    import platform

    for k in ENV:
        monkeypatch.delenv(k, raising=False)
    expected = platform.libc_ver()[0] == "glibc"
    assert reuse_pixel_buffers() is expected


def test_a_users_own_malloc_setting_stands(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert reuse_pixel_buffers() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and glibc behaviour")
def test_scan_workers_reuse_freed_buffers(tmp_path, monkeypatch):
    import json
    import platform

    from support.batch_signals import HeapProbe, coloured
    from support.images import encode

    from forensics.batch.scan import scan

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    for k in ENV:
        monkeypatch.delenv(k, raising=False)
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.png").write_bytes(encode(coloured(32, 32, 1), "PNG"))
    out = tmp_path / "r.jsonl"
    scan([d], out, workers=1, signals=[HeapProbe()])
    row = json.loads(out.read_text().splitlines()[0])
    assert row["signals"][0]["evidence"]["released_mb"] < 16  # freed, yet kept for the next image
