from html.parser import HTMLParser
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from forensics.cli.main import main
from forensics.batch.report import build_report, overlay
from forensics.batch.scan import scan
from support.batch_signals import Redness, Sharpness, batch_fusion, coloured
from support.images import encode

class Tags(HTMLParser):
    """Every (tag, attribute, value) of the real markup (escaped text is not markup)."""

    def __init__(self):
        super().__init__()
        self.attrs = []

    def handle_starttag(self, tag, attrs):
        self.attrs += [(tag, k, v or "") for k, v in attrs]


HOSTILE = '<script>alert("x")</script><img src=https://tracker.example/p.gif> C2PA: Adobe Firefly {d:+.2f}'


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    for i in range(8):
        (d / f"pic{i}.png").write_bytes(encode(coloured(60, 80, i), "PNG"))
    (d / "photo.jpg").write_bytes(encode(coloured(90, 60, 2), "JPEG", quality=88))
    (d / "gone.png").write_bytes(encode(coloured(40, 40, 6), "PNG"))
    (d / "text.png").write_text("hello")
    (d / "<b>odd name<b>.jpg").write_bytes(b"")
    out = d / "results.jsonl"
    scan([d], out, workers=0, signals=[Redness(summary=HOSTILE), Sharpness()], fusion=batch_fusion())
    (d / "gone.png").unlink()  # scanned, then deleted: placeholder in the report
    page = d / "report.html"
    summary = build_report(out, page)
    return d, page, summary


def test_report_is_self_contained_and_escaped(scanned):
    d, page, summary = scanned
    text = page.read_text()
    assert summary.results == 10 and summary.errors == 2 and summary.thumbnails == 9
    # no resource is fetched from anywhere: every src is inline data, no remote url(), @import or link
    tags = Tags()
    tags.feed(text)
    refs = [v for _, name, v in tags.attrs if name in ("src", "href", "action", "poster", "srcset", "formaction")]
    assert refs and all(r.startswith("data:image/") for r in refs), {r[:40] for r in refs}
    assert not [t for t, _, _ in tags.attrs if t in ("link", "iframe", "object", "embed", "base", "form")]
    assert not [v for _, name, v in tags.attrs if name == "style" and "url(" in v]
    assert not re.search(r"""url\(\s*["']?\s*(https?:)?//""", text, re.I)
    assert "@import" not in text and "<link" not in text
    assert "default-src &#x27;none&#x27;" in text  # the Content-Security-Policy
    # text from files is escaped, never markup
    assert '<script>alert("x")</script>' not in text and "<img src=https://tracker" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "&lt;b&gt;odd name&lt;b&gt;.jpg" in text and "<b>odd name" not in text
    assert text.count("<script>") == 1
    # table content: one row per result, per-signal columns, error rows listed with the reason
    assert text.count('<tr data-verdict="') == 10
    assert '<th data-type="num">redness</th>' in text and '<th data-type="num">sharpness</th>' in text
    assert "not a recognised image" in text and "file is empty" in text
    assert text.count('alt="heatmap"') == 10  # redness has a heatmap for each result
    assert 'class="ph"' in text  # the deleted file gets a placeholder
    for verdict in ("likely_ai", "likely_real", "inconclusive"):
        assert f'value="{verdict}"' in text


def test_overlay_marks_ai_like_regions_red():
    base = Image.new("RGB", (100, 50), (128, 128, 128))
    heat = [[0.0, 1.0]]  # left real-like, right AI-like
    im = np.asarray(overlay(base, heat, 128)).astype(int)
    left, right = im[25, 5], im[25, 95]
    assert right[0] > right[2] + 40 and left[2] > left[0] + 40


def test_cli_report(scanned, tmp_path, capsys):
    d, _, _ = scanned
    out = tmp_path / "r.html"
    assert main(["report", str(d / "results.jsonl"), "-o", str(out), "--no-thumbnails"]) == 0
    assert "10 result(s), 2 error row(s)" in capsys.readouterr().out
    assert "data:image/jpeg" in out.read_text()  # heatmap overlays still drawn, over grey
    assert main(["report", str(tmp_path / "missing.jsonl"), "-o", str(out)]) == 2


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(scanned, tmp_path, record_property):
    _, page, _ = scanned
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    url = page.resolve().as_uri()
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", "--window-size=1400,1000", url],
                   check=True, capture_output=True, timeout=120)
    print(f"report screenshot: {shot}")
    record_property("screenshot", str(shot))
    im = np.asarray(Image.open(shot).convert("RGB"))
    assert im.shape[:2] == (1000, 1400)
    assert im.std() > 20 and len(np.unique(im.reshape(-1, 3), axis=0)) > 500  # not blank
    red = ((im[..., 0] > 150) & (im[..., 1] < 80) & (im[..., 2] < 80)).sum()
    assert red > 100  # red badges / bars / heatmaps rendered
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", url], check=True, capture_output=True, timeout=120, text=True).stdout
    assert 'data-ready="1"' in dom  # the page's own script ran under its Content-Security-Policy
    assert "alert(" not in dom.replace("&lt;script&gt;alert(", "")
