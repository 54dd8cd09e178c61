import csv
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensics.batch.report import build_report, decoded_pixels, heat_rgba
from forensics.batch.scan import scan
from forensics.cli.main import main
from support.batch_signals import Redness, Sharpness, batch_fusion, coloured
from support.images import encode, natural_rgb


class Tags(HTMLParser):
    """Every (tag, attribute, value) of the real markup (escaped text is not markup)."""

    def __init__(self):
        super().__init__()
        self.attrs = []

    def handle_starttag(self, tag, attrs):
        self.attrs += [(tag, k, v or "") for k, v in attrs]


HOSTILE = '<script>alert("x")</script><img src=https://tracker.example/p.gif> C2PA: Adobe Firefly {d:+.2f}'


def deep_tiff() -> bytes:
    """A 16-bit greyscale TIFF with a gradient and stripes: Pillow's own conversion to RGB clips
    every value above 255 to white, so a thumbnail made that way is blank."""
    y, x = np.mgrid[0:90, 0:120]
    g = (20000 + 300 * y + 8000 * np.sin(x / 5.0)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(g).save(buf, "TIFF")
    return buf.getvalue()


def cut_jpeg() -> bytes:
    data = encode(natural_rgb(96, 128, seed=4), "JPEG", quality=90)
    return data[: len(data) // 2]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    for i in range(8):
        (d / f"pic{i}.png").write_bytes(encode(coloured(60, 80, i), "PNG"))
    (d / "photo.jpg").write_bytes(encode(coloured(90, 60, 2), "JPEG", quality=88))
    (d / "gone.png").write_bytes(encode(coloured(40, 40, 6), "PNG"))
    (d / "deep.tif").write_bytes(deep_tiff())
    (d / "cut.jpg").write_bytes(cut_jpeg())
    (d / "text.png").write_text("hello")
    (d / "<b>odd name<b>.jpg").write_bytes(b"")
    out = d / "results.jsonl"
    scan([d], out, workers=0, signals=[Redness(summary=HOSTILE), Sharpness()], fusion=batch_fusion())
    (d / "gone.png").unlink()  # scanned, then deleted: placeholder in the report
    page = d / "report.html"
    summary = build_report(out, page)
    return d, page, summary


def page_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    assert m, "no data block"
    assert "<" not in m.group(1) and ">" not in m.group(1) and "&" not in m.group(1)
    return json.loads(m.group(1))


def test_report_is_self_contained_and_escaped(scanned):
    d, page, summary = scanned
    text = page.read_text()
    assert summary.results == 12 and summary.errors == 2 and summary.thumbnails == 11
    # no resource is fetched from anywhere: every src is inline data, no remote url(), @import or link
    tags = Tags()
    tags.feed(text)
    refs = [v for _, name, v in tags.attrs if name in ("src", "href", "action", "poster", "srcset", "formaction")]
    assert refs and all(r.startswith("data:image/") for r in refs), {r[:40] for r in refs}
    assert not [t for t, _, _ in tags.attrs if t in ("link", "iframe", "object", "embed", "base", "form")]
    assert not [v for _, name, v in tags.attrs if name == "style" and "url(" in v]
    assert not re.search(r"""url\(\s*["']?\s*(https?:)?//""", text, re.I)
    assert "@import" not in text and "<link" not in text and "fetch(" not in text and "XMLHttpRequest" not in text
    assert "default-src &#x27;none&#x27;" in text  # the Content-Security-Policy
    # text from files is escaped, never markup (and inside the JSON block, < > & are \u escapes)
    assert '<script>alert("x")</script>' not in text and "<img src=https://tracker" not in text
    assert "&lt;b&gt;odd name&lt;b&gt;.jpg" in text and "<b>odd name" not in text
    assert text.count("<script>") == 1
    data = page_data(text)
    assert HOSTILE.split("{")[0] in {s["text"][: len(HOSTILE.split("{")[0])] for r in data["rows"] for s in r["signals"]}
    # one row and one gallery tile per result, sorted by P(AI), highest first
    assert text.count('<tr class="row"') == 12 and text.count('<div class="tile"') == 12
    ps = [r["p"] for r in data["rows"]]
    assert ps == sorted(ps, reverse=True)
    assert 'class="c-p sorted-desc" data-key="p"' in text
    assert "not a recognised image" in text and "file is empty" in text
    assert sum(1 for r in data["rows"] for s in r["signals"] if s["heat"]) == 12  # redness, flat maps too (one scale)
    gone = next(r for r in data["rows"] if r["source"].endswith("gone.png"))
    assert gone["image"] is None and gone["note"].startswith("source not readable here")
    for verdict in ("likely_ai", "likely_real", "inconclusive"):
        assert f'value="{verdict}"' in text
    # the summary header: counts by verdict, a histogram, the signals that decided most
    assert '<svg class="hist"' in text and "Signals that decided most" in text and "<li>redness:" in text


def test_thumbnails_are_the_engines_decoded_pixels(tmp_path):
    tif, cut = tmp_path / "deep.tif", tmp_path / "cut.jpg"
    tif.write_bytes(deep_tiff())
    cut.write_bytes(cut_jpeg())
    naive = np.asarray(Image.open(tif).convert("RGB"))
    assert (naive == 255).mean() > 0.99  # what the old thumbnail showed: blank white
    rgb, note = decoded_pixels(str(tif), None, 10**8)
    assert note is None and rgb.shape == (90, 120, 3) and rgb.std() > 20
    with pytest.raises(OSError):  # Pillow alone refuses the truncated file
        Image.open(cut).load()
    rgb, note = decoded_pixels(str(cut), None, 10**8)
    assert rgb.shape == (96, 128, 3) and rgb[:20].std() > 10  # the decoded rows, then the filler
    assert decoded_pixels(str(tmp_path / "nope.png"), None, 10**8)[0] is None


def test_heatmaps_share_one_log_odds_scale_and_leave_unmeasured_cells_clear():
    """Every map is drawn on one fixed scale: the same value gets the same colour in any map,
    a flat map is drawn flat (not stretched into structure), unmeasured cells are transparent."""
    a = np.asarray(heat_rgba([[0.30, 0.31], [0.5, None]])).astype(int)
    flat = np.asarray(heat_rgba([[0.95, 0.95], [0.30, 0.30]])).astype(int)
    assert a.shape == (2, 2, 4)
    assert (a[0, 0] == flat[1, 0]).all()  # 0.30 looks the same in both maps
    assert a[0, 0, 2] > a[0, 0, 0] + 25 and flat[0, 0, 0] > flat[0, 0, 2] + 100  # blue below 0.5, red above
    assert abs(a[0, 0, 0] - a[0, 1, 0]) < 8  # 0.30 and 0.31 barely differ: nothing is stretched
    assert a[1, 1, 3] == 0 and a[1, 0, 3] > 0  # not measured: transparent; measured at even odds: faint
    assert flat[0, 0, 3] > a[1, 0, 3] and flat[0, 0, 3] > a[0, 0, 3]  # more opaque further from even odds
    assert heat_rgba([[None, None]]) is None and heat_rgba([[float("nan")]]) is None


def test_cli_report(scanned, tmp_path, capsys):
    d, _, _ = scanned
    out = tmp_path / "r.html"
    assert main(["report", str(d / "results.jsonl"), "-o", str(out), "--no-thumbnails"]) == 0
    assert "12 result(s), 2 error row(s), 0 thumbnail(s)" in capsys.readouterr().out
    data = page_data(out.read_text())
    assert any(s["heat"] for r in data["rows"] for s in r["signals"])  # heatmaps still drawn, without the images
    assert main(["report", str(tmp_path / "missing.jsonl"), "-o", str(out)]) == 2


def test_rows_scanned_before_schema_2_still_render(scanned, tmp_path):
    d, _, _ = scanned
    old = tmp_path / "old.jsonl"
    rows = [json.loads(x) for x in (d / "results.jsonl").read_text().splitlines()]
    with open(old, "w") as fh:
        for r in rows:
            r.pop("headline", None), r.pop("basis", None)
            r["schema_version"] = 1
            fh.write(json.dumps(r) + "\n")
    build_report(old, tmp_path / "old.html", thumbnails=False)
    data = page_data((tmp_path / "old.html").read_text())
    assert all(r["headline"].endswith("scanned before the verdict's basis was recorded") for r in data["rows"])


def test_rows_scanned_under_schema_2_still_render(scanned, tmp_path):
    """Rows written before the base rate (schema 2: no base_rate, prior_log_odds, decoded_share or
    likelihood-ratio thresholds) are results, not unreadable lines."""
    d, _, _ = scanned
    old = tmp_path / "v2.jsonl"
    rows = [json.loads(x) for x in (d / "results.jsonl").read_text().splitlines()]
    with open(old, "w") as fh:
        for r in rows:
            if "error" not in r:
                r.pop("base_rate"), r.pop("prior_log_odds"), r["image"].pop("decoded_share")
                for k in ("base_rate", "log_lr_ai", "log_lr_real"):
                    r["decision"].pop(k, None)
            r["schema_version"] = 2
            fh.write(json.dumps(r) + "\n")
    summary = build_report(old, tmp_path / "v2.html", thumbnails=False)
    assert (summary.results, summary.errors, summary.unreadable) == (12, 2, 0)
    r = next(r for r in rows if "error" not in r)
    r["schema_version"] = 4  # a version this engine does not know is listed as unreadable, not guessed at
    old.write_text(json.dumps(r) + "\n")
    summary = build_report(old, tmp_path / "v4.html", thumbnails=False)
    assert (summary.results, summary.unreadable) == (0, 1)
    assert "schema_version: expected one of [1, 2, 3]" in (tmp_path / "v4.html").read_text()


# -- in a browser: the system Chromium, driven through Playwright (nothing is downloaded) ---------
def open_report(browser, page_path: Path, width: int):
    ctx = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("request", lambda r: problems.append(f"request {r.url}") if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(page_path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return ctx, page, problems


def no_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def shown(page) -> list[dict]:
    return page.evaluate("""Array.from(document.querySelectorAll('#results tbody tr'))
        .filter(tr => tr.style.display !== 'none')
        .map(tr => ({i: +tr.dataset.i, verdict: tr.dataset.verdict, path: tr.dataset.path,
                     p: parseFloat(tr.querySelector('td.c-p').textContent)}))""")


def thumb_variance(page, selector: str, out: Path) -> float:
    loc = page.locator(selector)
    loc.scroll_into_view_if_needed()
    loc.screenshot(path=str(out))
    return float(np.asarray(Image.open(out).convert("L"), dtype=float).std())


@pytest.mark.parametrize("width", [1400, 800])
def test_report_in_chromium(browser, scanned, tmp_path, width):
    d, page_path, _ = scanned
    ctx, page, problems = open_report(browser, page_path, width)
    try:
        page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
        print(f"screenshots: {tmp_path}")
        assert no_overflow(page), page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        rows = shown(page)
        assert len(rows) == 12 and [r["p"] for r in rows] == sorted((r["p"] for r in rows), reverse=True)
        # thumbnails of the 16-bit TIFF and the truncated JPEG, as rendered, are not blank
        by_name = {os.path.basename(r["path"]): r["i"] for r in rows}
        for name in ("deep.tif", "cut.jpg"):
            v = thumb_variance(page, f'#results tr[data-i="{by_name[name]}"] td.c-img img', tmp_path / f"thumb-{name}-{width}.png")
            assert v > 8, (name, v)
        # sort: P(AI) ascending on a click, then by file name
        page.click('#results th[data-key="p"]')
        assert [r["p"] for r in shown(page)] == sorted(r["p"] for r in rows)
        page.click('#results th[data-key="file"]')
        names = [os.path.basename(r["path"]).lower() for r in shown(page)]
        assert names == sorted(names)
        page.click('#results th[data-key="p"]')  # back to highest first (a new key sorts P descending)
        # filter: drop a verdict, then filter by path
        verdicts = {r["verdict"] for r in rows}
        drop = sorted(verdicts)[0]
        page.uncheck(f'input.vf[value="{drop}"]')
        left = shown(page)
        assert left and all(r["verdict"] != drop for r in left) and len(left) == sum(r["verdict"] != drop for r in rows)
        assert page.text_content("#shown") == str(len(left))
        page.check(f'input.vf[value="{drop}"]')
        page.fill("#q", "pic")
        assert {os.path.basename(r["path"])[:3] for r in shown(page)} == {"pic"} and len(shown(page)) == 8
        # marks: two rows marked, export what the filter shows (pic* files), in the order shown
        first, second = shown(page)[0], shown(page)[1]
        page.select_option(f'select.mark[data-i="{first["i"]}"]', "ai")
        page.select_option(f'select.mark[data-i="{second["i"]}"]', "real")
        with page.expect_download() as dl:
            page.click("#export")
        exported = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text())))
        assert dl.value.suggested_filename == "results-marks.csv"
        assert exported[0] == ["source", "path", "sha256", "probability", "verdict", "basis", "headline", "generator", "mark"]
        assert [r[1] for r in exported[1:]] == [r["path"] for r in shown(page)]
        assert [r[8] for r in exported[1:3]] == ["ai", "real"] and {r[8] for r in exported[3:]} == {""}
        assert float(exported[1][3]) == pytest.approx(first["p"], abs=1e-3)
        page.select_option("#markfilter", "marked")
        assert [r["i"] for r in shown(page)] == [first["i"], second["i"]]
        page.select_option("#markfilter", "all")
        page.fill("#q", "")
        # the detail panel for a row: image, one opacity slider per heatmap, bars, evidence
        page.click(f'#results tr[data-i="{by_name["pic1.png"]}"] td.c-file')
        page.wait_for_selector("#detail:not([hidden])")
        assert page.text_content("#detail h2").endswith("pic1.png")
        assert page.locator("#detail img.big").count() == 1
        sliders = page.locator('#detail .hmctl input[type="range"]')
        assert sliders.count() == 1 and page.get_attribute('#detail img.hm', "data-signal") == "redness"
        sliders.first.fill("90")
        assert page.evaluate("getComputedStyle(document.querySelector('#detail img.hm')).opacity") == "0.9"
        assert page.locator("#detail .contrib .bar").count() == 2 and "sharpness" in page.text_content("#detail ul.ev")
        assert no_overflow(page)
        page.screenshot(path=str(tmp_path / f"detail-{width}.png"))
        page.click("#d-close")  # the panel covers part of the table
        page.click(f'#results tr[data-i="{by_name["deep.tif"]}"] td.c-img')  # a flat map is drawn flat, on the one scale
        assert page.text_content("#detail h2").endswith("deep.tif") and page.locator("#detail img.hm").count() == 1
        assert thumb_variance(page, "#detail img.big", tmp_path / f"detail-deep-{width}.png") > 8
        page.keyboard.press("Escape")
        assert page.locator("#detail").is_hidden()
        # the gallery: tiles open the same panel
        page.click("#view")
        assert page.locator("#gallery").is_visible() and page.locator("#results").is_hidden()
        assert no_overflow(page)
        page.screenshot(path=str(tmp_path / f"gallery-{width}.png"), full_page=True)
        page.click(f'#gallery .tile[data-i="{by_name["cut.jpg"]}"]')
        assert page.text_content("#detail h2").endswith("cut.jpg")
        # marks are kept in the page's storage: a reload shows them
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.input_value(f'select.mark[data-i="{first["i"]}"]') == "ai"
        assert problems == [], problems  # no script error, no CSP violation, no request off the page
    finally:
        ctx.close()


def test_report_keys_work_after_a_slider_was_used(browser, scanned, tmp_path):
    """Issue 25: after a heatmap slider is touched, Esc still closes the panel and the keys
    still step and mark instead of moving the slider; the panel never reads 'inconclusive
    inconclusive:'; the 'did not run' reasons are said once, in the footer."""
    _, page_path, _ = scanned
    ctx, page, problems = open_report(browser, page_path, 1300)
    try:
        first, second = shown(page)[:2]
        page.click(f'#results tr[data-i="{first["i"]}"] td.c-file')
        page.locator('#detail .hmctl input[type="range"]').first.click()  # moved with the pointer: it lets go
        page.keyboard.press("ArrowRight")
        assert page.text_content("#detail h2") == second["path"]
        page.keyboard.press("ArrowLeft")
        assert page.text_content("#detail h2") == first["path"]
        slider = page.locator('#detail .hmctl input[type="range"]').first
        slider.focus()  # focused from the keyboard: the panel's keys still win
        before = slider.input_value()
        page.keyboard.press("a")
        page.keyboard.press("ArrowRight")
        assert page.input_value(f'select.mark[data-i="{first["i"]}"]') == "ai"
        assert page.text_content("#detail h2") == second["path"]
        page.keyboard.press("ArrowLeft")
        assert page.locator('#detail .hmctl input[type="range"]').first.input_value() == before
        page.keyboard.press("Escape")
        assert page.locator("#detail").is_hidden()
        page.fill("#q", "pic")  # Esc from the search field closes the panel too
        page.click(f'#results tr[data-i="{shown(page)[0]["i"]}"] td.c-file')
        page.focus("#q")
        page.keyboard.press("Escape")
        assert page.locator("#detail").is_hidden()
        for r in shown(page):
            page.click(f'#results tr[data-i="{r["i"]}"] td.c-file')
            text = page.text_content("#detail p.verdict")
            label = page.text_content("#detail p.verdict .badge")
            assert not text[len(label):].strip().lower().startswith(label.lower()), text
        assert problems == [], problems
    finally:
        ctx.close()


def test_unweighed_maps_wait_to_be_asked_and_the_weights_note_is_said_once(browser, tmp_path):
    """Issue 25: a signal the fusion does not weigh shows no map unless asked; why a signal did
    not run is said once, in the footer, not again in every panel."""
    from support.toy_signals import Brightness, NoWeights

    d = tmp_path / "in"
    d.mkdir()
    for i in range(2):
        (d / f"p{i}.png").write_bytes(encode(coloured(60, 80, i), "PNG"))
    out = tmp_path / "r.jsonl"
    scan([d], out, workers=0, signals=[Redness(), Sharpness(), Brightness(), NoWeights()], fusion=batch_fusion())
    page_path = tmp_path / "report.html"
    build_report(out, page_path)
    ctx, page, problems = open_report(browser, page_path, 1300)
    try:
        assert page.inner_text("body").count("run `forensics weights download no_weights`") == 1
        assert "no_weights did not run" in page.inner_text("footer")
        page.click("#results tbody tr:first-child td.c-file")
        panel = page.inner_text("#detail")
        assert "forensics weights download" not in panel and "did not run: no_weights" in panel
        maps = page.locator("#detail img.hm")
        assert [maps.nth(k).get_attribute("data-signal") for k in range(maps.count())] == ["redness"]
        page.click("#d-allmaps")
        assert sorted(page.locator("#detail img.hm").nth(k).get_attribute("data-signal") for k in range(2)) == ["brightness", "redness"]
        assert "(not weighed)" in page.inner_text("#detail .hmctl")
        assert problems == [], problems
    finally:
        ctx.close()
