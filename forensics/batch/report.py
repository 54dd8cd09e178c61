"""``forensics report``: one self-contained HTML page from a scan's JSON Lines file.

The page needs no network: CSS, JavaScript and images (thumbnails made from the source files,
heatmap overlays composited here) are inline, and a Content-Security-Policy forbids every
other source (``default-src 'none'``; scripts only by the hash of the page's own script), so
even text that escaped escaping could not run or fetch anything. All text that comes from
files (paths, summaries drawn from metadata, error messages) is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import logging
import os
import stat
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forensics.errors import ForensicsError
from forensics.image import DEFAULT_MAX_PIXELS, decoder_formats

from .results import read_results

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

THUMB_SIDE = 128
MINI_SIDE = 64
#: Largest source file read for a thumbnail.
MAX_THUMB_BYTES = 256 * 1024 * 1024
VERDICT_LABELS = {"likely_ai": "likely AI", "likely_real": "likely real", "inconclusive": "inconclusive"}


@dataclass
class ReportSummary:
    output: str
    rows: int
    results: int
    errors: int
    thumbnails: int
    changed: int

    def format(self) -> str:
        return (f"wrote {self.output}: {self.results} result(s), {self.errors} error row(s), "
                f"{self.thumbnails} thumbnail(s)" + (f"; {self.changed} file(s) changed since the scan" if self.changed else ""))


# -- images ------------------------------------------------------------------------------------
def _open_thumbnail(path: str, sha256: str | None, max_pixels: int) -> tuple["Image.Image | None", str | None]:
    """A small RGB thumbnail of ``path`` and a note (why there is none, or that the file
    changed since the scan). Never raises; never opens anything but a regular file."""
    from PIL import Image, ImageOps

    try:
        st = os.stat(path)
    except OSError as exc:
        return None, f"source not readable here ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return None, "source is not a regular file"
    if st.st_size > MAX_THUMB_BYTES:
        return None, "source too large for a thumbnail"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"source not readable here ({exc.strerror or exc})"
    note = None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        note = "file changed since the scan: the thumbnail shows the current file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data), formats=decoder_formats())
            if im.size[0] * im.size[1] > max_pixels:
                return None, "image too large to decode for a thumbnail"
            im.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: decode at reduced scale
            im.load()
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
            im.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
            return im, note
    except Exception as exc:  # truncated, corrupt or hostile files: a placeholder instead
        return None, f"no thumbnail ({type(exc).__name__})"


def heat_rgba(heatmap: list[list[float]], size: tuple[int, int]) -> "Image.Image":
    """A translucent overlay of a ``[0, 1]`` grid (1 = AI-like) at ``size``: blue for real-like,
    red for AI-like, more opaque the further from 0.5."""
    from PIL import Image

    v = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.5), 0, 1)
    rgba = np.empty(v.shape + (4,), dtype=np.uint8)
    rgba[..., 0] = (40 + 215 * v).astype(np.uint8)
    rgba[..., 1] = (60 * (1 - np.abs(v - 0.5) * 2)).astype(np.uint8)
    rgba[..., 2] = (40 + 215 * (1 - v)).astype(np.uint8)
    rgba[..., 3] = (70 + 130 * np.abs(v - 0.5) * 2).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA").resize(size, Image.Resampling.BILINEAR)


def overlay(base: "Image.Image | None", heatmap: list[list[float]], side: int) -> "Image.Image":
    """``heatmap`` composited over ``base`` (or over grey when there is no thumbnail)."""
    from PIL import Image

    if base is None:
        h, w = len(heatmap), len(heatmap[0])
        scale = side / max(h, w)
        base = Image.new("RGB", (max(1, round(w * scale)), max(1, round(h * scale))), (128, 128, 128))
    elif max(base.size) > side:
        base = base.copy()
        base.thumbnail((side, side))
    out = base.convert("RGBA")
    out.alpha_composite(heat_rgba(heatmap, out.size))
    return out.convert("RGB")


def _data_uri(im: "Image.Image") -> str:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _valid_heatmap(hm: Any) -> bool:
    return (isinstance(hm, list) and hm and all(isinstance(r, list) and r for r in hm)
            and len({len(r) for r in hm}) == 1 and all(isinstance(x, (int, float)) for r in hm for x in r))


# -- HTML --------------------------------------------------------------------------------------
def e(text: Any) -> str:
    """HTML-escape any value (quotes included, for attributes)."""
    return html.escape("" if text is None else str(text), quote=True)


CSS = """
:root{--ai:#c62828;--real:#1565c0;--inc:#8d6e00;--mute:#777}
body{font:13px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:var(--mute);margin-bottom:8px}.counts span{margin-right:14px}
.controls{position:sticky;top:0;background:#fafafa;padding:8px 0;border-bottom:1px solid #ddd;z-index:2}
.controls label{margin-right:12px;cursor:pointer}.controls input[type=search]{width:260px}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #e4e4e4;padding:6px;vertical-align:top;text-align:left}
th{background:#f0f0f0;position:sticky;top:38px;cursor:pointer;user-select:none;white-space:nowrap}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.img{white-space:nowrap}td.img img{border:1px solid #ccc;margin-right:4px;vertical-align:top}
.ph{display:inline-block;width:128px;height:96px;background:repeating-linear-gradient(45deg,#eee,#eee 8px,#ddd 8px,#ddd 16px);
color:#666;font-size:11px;text-align:center;vertical-align:top;border:1px solid #ccc;padding-top:36px;box-sizing:border-box}
.path{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all;max-width:280px}
.small{color:var(--mute);font-size:11px}.warn{color:#b45309;font-size:11px}
.badge{padding:2px 6px;border-radius:3px;color:#fff;white-space:nowrap}
.v-likely_ai{background:var(--ai)}.v-likely_real{background:var(--real)}.v-inconclusive{background:var(--inc)}
.prob{width:90px;height:8px;background:#eee;margin-top:3px}.prob span{display:block;height:8px;background:linear-gradient(90deg,var(--real),var(--inc),var(--ai))}
.bar{position:relative;width:90px;height:10px;background:#f1f1f1;margin-top:3px}
.bar::before{content:"";position:absolute;left:50%;top:-2px;bottom:-2px;border-left:1px solid #999}
.bar span{position:absolute;top:0;height:10px}.pos{background:var(--ai)}.neg{background:var(--real)}
.status{color:var(--mute);font-style:italic}
ul.ev{margin:0;padding-left:16px;min-width:320px;max-width:420px}ul.ev li{margin-bottom:3px;overflow-wrap:anywhere}
ul.ev img{float:right;margin-left:4px;border:1px solid #ccc}
body.noheat .heat{display:none}
.errors td{color:#7f1d1d}
"""

JS = """
(function(){
  var table=document.getElementById('results'); if(!table) return;
  var tbody=table.tBodies[0];
  function val(td,num){var v=td?td.getAttribute('data-v'):null; if(num){var f=parseFloat(v); return isNaN(f)?-Infinity:f;} return (v||'').toLowerCase();}
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
    th.addEventListener('click',function(){
      var num=th.getAttribute('data-type')==='num';
      var asc=!th.classList.contains('sorted-asc');
      Array.prototype.forEach.call(table.tHead.rows[0].cells,function(o){o.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      var rows=Array.prototype.slice.call(tbody.rows);
      rows.sort(function(a,b){var x=val(a.cells[i],num),y=val(b.cells[i],num); return (x<y?-1:x>y?1:0)*(asc?1:-1);});
      rows.forEach(function(r){tbody.appendChild(r);});
    });
  });
  var boxes=document.querySelectorAll('input.vf'), search=document.getElementById('q'), shown=document.getElementById('shown');
  function apply(){
    var on={}; Array.prototype.forEach.call(boxes,function(b){on[b.value]=b.checked;});
    var q=(search.value||'').toLowerCase(), n=0;
    Array.prototype.forEach.call(tbody.rows,function(r){
      var ok=on[r.getAttribute('data-verdict')] && (!q || r.getAttribute('data-path').toLowerCase().indexOf(q)>=0);
      r.style.display=ok?'':'none'; if(ok) n++;
    });
    var er=document.getElementById('errors'); if(er) er.style.display=on['error']?'':'none';
    shown.textContent=n;
  }
  Array.prototype.forEach.call(boxes,function(b){b.addEventListener('change',apply);});
  search.addEventListener('input',apply);
  var heat=document.getElementById('heat');
  heat.addEventListener('change',function(){document.body.classList.toggle('noheat',!heat.checked);});
  apply();
  document.body.setAttribute('data-ready','1');
})();
"""


def _bar(c: float | None, scale: float) -> str:
    if c is None:
        return ""
    frac = min(1.0, abs(c) / scale) * 50 if scale > 0 else 0
    side = f"left:50%;width:{frac:.1f}%" if c >= 0 else f"right:50%;width:{frac:.1f}%"
    return f'<div class="bar"><span class="{"pos" if c >= 0 else "neg"}" style="{side}"></span></div>'


def _signal_cell(s: dict[str, Any] | None, scale: float) -> str:
    if s is None:
        return '<td data-v=""></td>'
    status = s.get("status")
    if status != "ok":
        return f'<td data-v="" title="{e(s.get("reason"))}"><span class="status">{e(status)}</span></td>'
    c = s.get("contribution")
    c = float(c) if isinstance(c, (int, float)) else None
    mark = "" if s.get("calibrated", True) or not s.get("in_fusion", True) else " *"
    head = f"{c:+.2f}{mark}" if c is not None and s.get("in_fusion", True) else "(not fused)"
    score = s.get("score")
    score_txt = f"score {score:.3g}" if isinstance(score, (int, float)) else ""
    return (f'<td data-v="{"" if c is None else f"{c:.6f}"}" title="{e(score_txt)}">{e(head)}'
            f'{_bar(c, scale) if s.get("in_fusion", True) else ""}</td>')


def build_report(results: str | os.PathLike, output: str | os.PathLike, *, thumbnails: bool = True,
                 title: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> ReportSummary:
    """Write the HTML report of the scan file ``results`` to ``output``.

    Thumbnails are made from the source files named in the rows (``scan.path``, else
    ``source``) when they can be read here; a placeholder otherwise.
    """
    try:
        rows = read_results(results)
    except OSError as exc:
        raise ForensicsError(f"{results}: cannot read the results ({exc.strerror or exc})") from None
    good = [r for r in rows if isinstance(r.get("probability"), (int, float)) and "error" not in r]
    bad = [r for r in rows if isinstance(r.get("error"), dict)]
    names: list[str] = []
    for r in good:
        for s in r.get("signals") or []:
            if isinstance(s, dict) and isinstance(s.get("name"), str) and s["name"] not in names:
                names.append(s["name"])
    contribs = [abs(s["contribution"]) for r in good for s in r.get("signals") or []
                if isinstance(s, dict) and isinstance(s.get("contribution"), (int, float))]
    scale = max(contribs) if contribs and max(contribs) > 0 else 1.0
    counts = Counter(r.get("verdict") for r in good)
    n_thumbs = n_changed = 0

    body_rows = []
    for r in good:
        scan_info = r.get("scan") if isinstance(r.get("scan"), dict) else {}
        path = str(scan_info.get("path") or r.get("source"))
        signals = [s for s in r.get("signals") or [] if isinstance(s, dict)]
        thumb, note = _open_thumbnail(path, r.get("sha256"), max_pixels) if thumbnails else (None, None)
        if thumb is not None:
            n_thumbs += 1
        if note and note.startswith("file changed"):
            n_changed += 1
        with_heat = [s for s in signals if _valid_heatmap(s.get("heatmap"))]
        with_heat.sort(key=lambda s: -abs(s.get("contribution") or 0.0))
        img = (f'<img src="{_data_uri(thumb)}" alt="thumbnail" width="{thumb.width}" height="{thumb.height}">'
               if thumb is not None else f'<span class="ph">{e("no thumbnail" if thumbnails else "thumbnails off")}</span>')
        if with_heat:
            top = with_heat[0]
            ov = overlay(thumb, top["heatmap"], THUMB_SIDE)
            img += (f'<img class="heat" src="{_data_uri(ov)}" alt="heatmap" title="{e(top["name"])} heatmap '
                    f'(red = AI-like, blue = real-like)" width="{ov.width}" height="{ov.height}">')
        image = r.get("image") if isinstance(r.get("image"), dict) else {}
        info = f'{e(image.get("format"))} {e(image.get("width"))}x{e(image.get("height"))}'
        warn = "; ".join(str(w) for w in image.get("warnings") or [])
        if image.get("truncated") and not warn:
            warn = "file is truncated"
        p = float(r["probability"])
        verdict = str(r.get("verdict"))
        ev = []
        for s in signals:
            if s.get("status") == "unavailable":  # listed once, above the table
                continue
            mini = ""
            if s in with_heat[1:]:
                m = overlay(thumb, s["heatmap"], MINI_SIDE)
                mini = f'<img class="heat" src="{_data_uri(m)}" alt="heatmap" width="{m.width}" height="{m.height}">'
            text = s.get("summary") or s.get("reason") or ""
            ev.append(f'<li>{mini}<b>{e(s.get("name"))}</b>: {e(text)}</li>')
        by_name = {s.get("name"): s for s in signals}
        body_rows.append(
            f'<tr data-verdict="{e(verdict)}" data-path="{e(r.get("source"))}">'
            f'<td class="img" data-v="{p:.6f}">{img}</td>'
            f'<td data-v="{e(r.get("source"))}"><div class="path">{e(r.get("source"))}</div>'
            f'<div class="small">{info} &middot; sha256 {e(str(r.get("sha256"))[:12])}</div>'
            + (f'<div class="warn">{e(warn)}</div>' if warn else "")
            + (f'<div class="warn">{e(note)}</div>' if note and thumbnails else "")
            + (f'<div class="small">degraded: {e(", ".join(str(n.get("name")) for n in r.get("not_run") or [] if isinstance(n, dict)))} did not run</div>'
               if r.get("degraded") else "")
            + f'</td><td data-v="{p:.6f}">{p:.3f}<div class="prob"><span style="width:{p * 100:.1f}%"></span></div></td>'
            f'<td data-v="{e(verdict)}"><span class="badge v-{e(verdict)}">{e(VERDICT_LABELS.get(verdict, verdict))}</span></td>'
            + "".join(_signal_cell(by_name.get(n), scale) for n in names)
            + f'<td><ul class="ev">{"".join(ev)}</ul></td></tr>')

    err_rows = "".join(
        f'<tr><td class="path">{e(r.get("source"))}</td><td>{e(r["error"].get("type"))}</td><td>{e(r["error"].get("message"))}</td></tr>'
        for r in bad)
    script = JS
    script_hash = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'"
    fusions = sorted({str((r.get("fusion") or {}).get("name")) for r in good if isinstance(r.get("fusion"), dict)})
    uncal = sorted({u for r in good if isinstance(r.get("fusion"), dict) for u in r["fusion"].get("uncalibrated") or []})
    unavailable: dict[str, str] = {}
    for r in good:
        for s in r.get("signals") or []:
            if isinstance(s, dict) and s.get("status") == "unavailable":
                unavailable.setdefault(str(s.get("name")), str(s.get("reason")))
    versions = sorted({str((r.get("versions") or {}).get("forensics")) for r in good if isinstance(r.get("versions"), dict)})
    settings = sorted({str(r["scan"].get("settings"))[:12] for r in rows if isinstance(r.get("scan"), dict)})
    title = title or f"forensics report: {Path(results).name}"
    filters = "".join(
        f'<label><input type="checkbox" class="vf" value="{v}" checked> {VERDICT_LABELS[v]} ({counts.get(v, 0)})</label>'
        for v in VERDICT_LABELS) + f'<label><input type="checkbox" class="vf" value="error" checked> errors ({len(bad)})</label>'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(csp)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{e(title)}</h1>
<div class="meta">{len(good)} result(s), {len(bad)} error row(s) from {e(results)}; generated {e(_dt.datetime.now().astimezone().isoformat(timespec="seconds"))}
&middot; fusion {e(", ".join(fusions) or "-")} &middot; forensics {e(", ".join(versions) or "-")} &middot; settings {e(", ".join(settings) or "-")}</div>
<div class="meta">P(AI) is the fused probability. Signal columns show each signal's contribution to the log-odds
(red bars push towards AI, blue towards real; bars share one scale, {scale:.2f} = half width).
{"".join(f"<br>Not available when scanned: <b>{e(n)}</b> ({e(why)})" for n, why in unavailable.items())}
{("<br>* uncalibrated prior weight: " + e(", ".join(uncal)) + ". ") if uncal else ""}Heatmaps: red = AI-like, blue = real-like regions.</div>
<div class="controls">{filters}
<label><input type="checkbox" id="heat" checked> heatmaps</label>
<input type="search" id="q" placeholder="filter by path"> <span class="small"><span id="shown">{len(good)}</span> shown</span></div>
<table id="results"><thead><tr><th data-type="num" title="sort by P(AI)">image</th><th>file</th><th data-type="num">P(AI)</th><th>verdict</th>
{"".join(f'<th data-type="num">{e(n)}</th>' for n in names)}<th>evidence</th></tr></thead>
<tbody>
{"".join(body_rows)}
</tbody></table>
<div id="errors"><h2>Inputs that could not be analysed ({len(bad)})</h2>
{f'<table class="errors"><thead><tr><th>file</th><th>error</th><th>message</th></tr></thead><tbody>{err_rows}</tbody></table>' if bad else '<p class="small">none</p>'}
</div>
<script>{script}</script>
</body></html>
"""
    out = Path(output)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return ReportSummary(str(out), len(rows), len(good), len(bad), n_thumbs, n_changed)
