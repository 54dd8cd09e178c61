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
