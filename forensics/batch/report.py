"""``forensics report``: one self-contained HTML page to review a scan's JSON Lines file.

The page needs no network: CSS, JavaScript and images (thumbnails and detail images made from
the engine's own decoding of the source files, heatmaps rendered here) are inline, and a
Content-Security-Policy forbids every other source (``default-src 'none'``; scripts only by
the hash of the page's own script), so even text that escaped escaping could not run or fetch
anything. Text from files (paths, summaries drawn from metadata, error messages) is
HTML-escaped in the markup and set with ``textContent`` by the script; the per-image data the
script reads is a JSON block whose ``<``, ``>`` and ``&`` are escaped.

What a reviewer gets: a summary header (counts by verdict and by basis, a histogram of P(AI),
the signals that decided most), a compact table sorted by P(AI) (every column sortable), a
gallery view, a detail panel per image (large image, each signal's heatmap over it with its own
opacity slider, contribution bars, evidence lines, metadata), reviewer marks kept in the
browser's storage for this report, and a CSV export of the rows the current filter shows.
The detail panel (``PANEL_CSS``, ``PANEL_JS``, :func:`panel_row`) is also the one on
``forensics serve``'s page.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import json
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forensics.attribution import describe, short
from forensics.basis import fmt_p
from forensics.errors import ForensicsError, ImageLoadError
from forensics.image import DEFAULT_MAX_PIXELS, load_image, read_regular
from forensics.safe import escape, for_terminal
from forensics.text import rule_text

from .results import row_key

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: Longer side of the table/gallery thumbnail and of the detail panel's image, in pixels.
THUMB_SIDE = 160
DETAIL_SIDE = 512
#: Largest source file read for a thumbnail.
MAX_THUMB_BYTES = 256 * 1024 * 1024
VERDICT_LABELS = {"likely_ai": "likely AI", "inconclusive": "inconclusive", "likely_real": "likely real"}
VERDICT_RANK = {"likely_ai": 0, "inconclusive": 1, "likely_real": 2}
BASIS_LABELS = {"provenance": "provenance", "camera_metadata": "camera metadata", "pixels": "pixels",
                "other": "other signals", "none": "nothing", None: "not recorded"}
HIST_BINS = 10
#: The heatmaps' one colour scale: a cell's log-odds saturates the colour at +-HEAT_LOGIT
#: (P 0.018 / 0.982), the same for every image and signal, so maps can be compared.
HEAT_LOGIT = 4.0
HEAT_REAL, HEAT_PALE, HEAT_AI = (np.array(c, dtype=np.float64) for c in ((21, 101, 192), (236, 236, 236), (198, 40, 40)))


@dataclass
class ReportSummary:
    output: str
    rows: int
    results: int
    errors: int
    thumbnails: int
    changed: int
    unreadable: int = 0

    def format(self) -> str:
        return (f"wrote {self.output}: {self.results} result(s), {self.errors} error row(s), "
                f"{self.thumbnails} thumbnail(s)" + (f"; {self.changed} file(s) changed since the scan" if self.changed else "")
                + (f"; {self.unreadable} unreadable line(s) listed with the errors" if self.unreadable else ""))


# -- images ------------------------------------------------------------------------------------
def decoded_pixels(path: str, sha256: str | None, max_pixels: int) -> tuple[np.ndarray | None, str | None]:
    """The source's pixels as the engine decoded them for analysis (``LoadedImage.rgb``: a
    16-bit TIFF stretched to 8 bits, a truncated JPEG with its filler rows, EXIF orientation
    applied), and a note (why there are none, or that the file changed since the scan). Never
    raises; never opens anything but a regular file."""
    try:
        data = read_regular(path, MAX_THUMB_BYTES)
    except ImageLoadError as exc:  # missing, not a regular file, too large: the reason without the path
        return None, f"source not readable here ({str(exc).removeprefix(f'{Path(path)}: ')})"
    note = None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        note = "file changed since the scan: the image shows the current file"
    try:
        return load_image(data, max_pixels=max_pixels).rgb, note
    except ImageLoadError as exc:
        return None, f"no thumbnail: {str(exc).removeprefix('<bytes>: ')}"
    except Exception as exc:  # a decoder bug must not sink the report
        log.warning("%s: thumbnail failed (%s)", path, type(exc).__name__, exc_info=log.isEnabledFor(logging.INFO))
        return None, f"no thumbnail ({type(exc).__name__})"


def shrink(rgb: np.ndarray, side: int) -> "Image.Image":
    """``rgb`` as an image whose longer side is at most ``side`` (Lanczos)."""
    from PIL import Image

    im = Image.fromarray(rgb)
    if max(im.size) > side:
        im.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return im


def heat_rgba(heatmap: Any) -> "Image.Image | None":
    """A heatmap (cells in ``[0, 1]``, the sigmoid of each cell's log-odds; ``NaN`` or ``None``
    where the signal did not look) as an RGBA image at its own resolution, on the one colour
    scale every map and image shares: log-odds ``-HEAT_LOGIT`` (blue, towards real) through 0
    (pale) to ``+HEAT_LOGIT`` (red, towards AI), more opaque further from 0; cells that were not
    measured are transparent. Nothing is stretched: a flat map is drawn flat. ``None`` when no
    cell was measured."""
    from PIL import Image

    try:
        v = np.array(heatmap, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if v.ndim != 2 or v.size == 0 or not np.isfinite(v).any():
        return None
    measured = np.isfinite(v)
    p = np.clip(np.where(measured, v, 0.5), 1e-6, 1 - 1e-6)
    t = np.clip(np.log(p / (1 - p)) / HEAT_LOGIT, -1.0, 1.0)[..., None]
    rgb = np.where(t >= 0, HEAT_PALE + t * (HEAT_AI - HEAT_PALE), HEAT_PALE - t * (HEAT_REAL - HEAT_PALE))
    rgba = np.empty(v.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = np.round(rgb).astype(np.uint8)
    rgba[..., 3] = np.where(measured, np.round(70 + 170 * np.abs(t[..., 0])), 0).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def _data_uri(im: "Image.Image", fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.convert("RGB").save(buf, "JPEG", quality=85)
    else:
        im.save(buf, fmt, optimize=True)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _valid_heatmap(hm: Any) -> bool:
    """A rectangular list of rows of numbers; ``null`` marks a cell the signal did not measure."""
    return (isinstance(hm, list) and bool(hm) and all(isinstance(r, list) and r for r in hm)
            and len({len(r) for r in hm}) == 1
            and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for r in hm for x in r))


# -- HTML --------------------------------------------------------------------------------------
def e(text: Any) -> str:
    """HTML-escape any value (quotes included, for attributes), control characters and the bytes
    of non-UTF-8 names escaped first (:func:`forensics.safe.escape`)."""
    return html.escape(escape(text), quote=True)


def _json_block(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``."""
    return (json.dumps(value, allow_nan=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


#: The detail panel's style, shared with the page of ``forensics serve`` (see ``PANEL_JS``).
PANEL_CSS = """
:root{--ai:#c62828;--real:#1565c0;--inc:#8d6e00;--err:#6d4c41;--mute:#666;--line:#e2e2e2}
button{font:inherit;cursor:pointer}
.ph{width:64px;height:48px;background:repeating-linear-gradient(45deg,#eee,#eee 6px,#ddd 6px,#ddd 12px);
color:#666;font-size:10px;text-align:center;padding-top:14px;overflow:hidden}
.small{color:var(--mute);font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.note{color:var(--mute);font-size:11px;overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 6px;border-radius:3px;color:#fff;white-space:nowrap;font-size:12px}
.v-likely_ai{background:var(--ai)}.v-likely_real{background:var(--real)}.v-inconclusive{background:var(--inc)}
.bar{position:relative;height:10px;background:#f1f1f1}
.bar::before{content:"";position:absolute;left:50%;top:-2px;bottom:-2px;border-left:1px solid #999}
.bar span{position:absolute;top:0;height:10px}.pos{background:var(--ai)}.neg{background:var(--real)}
#detail{position:fixed;top:0;right:0;bottom:0;width:min(780px,100%);background:#fff;border-left:1px solid #bbb;
box-shadow:-4px 0 16px rgba(0,0,0,.15);overflow-y:auto;overflow-x:hidden;z-index:10;padding:12px 14px}
#detail[hidden]{display:none}
#detail .top{display:flex;gap:8px;align-items:flex-start}#detail .top h2{margin:0;flex:1;min-width:0;overflow-wrap:anywhere;font-size:14px}
.stage{position:relative;display:inline-block;width:min(100%,560px);margin:8px 0;line-height:0;background:#eee}
.stage img{display:block;width:100%;height:auto}.stage img.big.small-src{image-rendering:pixelated}
.stage img.hm{position:absolute;left:0;top:0;width:100%;height:100%;image-rendering:pixelated;pointer-events:none}
.hmctl{display:grid;grid-template-columns:minmax(0,170px) minmax(0,1fr);gap:2px 8px;align-items:center;font-size:12px}
.hmctl input{width:100%}
.contrib{display:grid;grid-template-columns:minmax(0,150px) 80px minmax(0,1fr);gap:3px 8px;align-items:center;font-size:12px}
ul.ev{margin:4px 0;padding-left:18px}ul.ev li{margin-bottom:3px;overflow-wrap:anywhere}
dl.md{display:grid;grid-template-columns:minmax(0,130px) minmax(0,1fr);gap:2px 8px;font-size:12px;margin:4px 0}
dl.md dt{color:var(--mute)}dl.md dd{margin:0;overflow-wrap:anywhere}
.marks button{margin-right:4px}.marks button.on{outline:2px solid #222}
.legrow{display:flex;gap:6px;align-items:center;margin-top:6px}
.legbar{flex:0 1 260px;height:10px;border:1px solid #ccc;background:linear-gradient(90deg,rgb(21,101,192),rgb(236,236,236),rgb(198,40,40))}
p.verdict{overflow-wrap:anywhere}
"""

#: The report's own style, after the panel's.
CSS = PANEL_CSS + """
*{box-sizing:border-box}
html,body{max-width:100%}
body{font:13px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px 16px;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 2px;overflow-wrap:anywhere}h2{font-size:15px;margin:18px 0 6px}
.meta{color:var(--mute);font-size:12px;overflow-wrap:anywhere}
.summary{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 10px;min-width:0;flex:1 1 220px}
.card h3{font-size:12px;margin:0 0 6px;color:var(--mute);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
.chips span{display:inline-block;margin:0 8px 4px 0;white-space:nowrap}
.hist{width:100%;max-width:420px;height:auto;display:block}
.deciders{margin:0;padding-left:18px}
.card .small{white-space:normal;overflow:visible}
.controls{position:sticky;top:0;background:#fafafa;padding:6px 0;border-bottom:1px solid #ddd;z-index:3;
display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center}
.controls label{cursor:pointer;white-space:nowrap}.controls input[type=search]{width:200px;max-width:100%}
table{border-collapse:collapse;background:#fff;width:100%;table-layout:fixed}
th,td{border-bottom:1px solid var(--line);padding:4px 6px;vertical-align:middle;text-align:left;overflow:hidden}
th{background:#f0f0f0;position:sticky;top:38px;cursor:pointer;user-select:none;white-space:nowrap;z-index:2}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
th.c-img{width:76px}th.c-p{width:84px}th.c-v{width:104px}th.c-top{width:17%}th.c-mark{width:92px}th.c-file{width:24%}
tr.row{cursor:pointer}tr.row:hover{background:#f5f8ff}tr.row.current{outline:2px solid #1565c0;outline-offset:-2px}
td.img img,.ph{display:block;max-width:64px;max-height:56px;border:1px solid #ccc}
.file{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.warn{color:#b45309;font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.headline{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;overflow-wrap:anywhere}
.prob{height:6px;background:#eee;margin-top:3px}.prob span{display:block;height:6px;background:linear-gradient(90deg,var(--real),var(--inc),var(--ai))}
select.mark{width:100%;font:inherit}
#gallery{display:none;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
body.gallery #gallery{display:grid}body.gallery #tablewrap{display:none}
.tile{background:#fff;border:1px solid var(--line);border-radius:4px;padding:4px;cursor:pointer;min-width:0}
.tile img,.tile .ph{width:100%;height:auto;max-width:none;max-height:160px;object-fit:contain;background:#f3f3f3}
.tile .ph{height:100px}
.tile .cap{display:flex;justify-content:space-between;gap:4px;align-items:center;margin-top:3px}
.tile .file{font-size:11px}
.mk{font-size:11px;color:#fff;background:#455a64;border-radius:3px;padding:0 4px}.mk:empty{display:none}
.errors{table-layout:fixed}.errors td{color:#7f1d1d;overflow-wrap:anywhere}.errors td:nth-child(2){overflow-wrap:normal}
@media (max-width:1000px){th.c-top,td.c-top{display:none}th.c-file{width:26%}.headline{-webkit-line-clamp:3}}
@media (max-width:640px){th.c-img,td.c-img{display:none}}
footer{margin-top:18px;border-top:1px solid var(--line);padding-top:6px}
"""

PANEL_JS = r"""
var forensicsPanel=(function(){
  function el(tag,cls,text){var x=document.createElement(tag); if(cls) x.className=cls; if(text!==undefined) x.textContent=text; return x;}
  // the badge already names the verdict: the headline goes on from there
  function said(r){var l=(r.verdict_label+':').toLowerCase(), h=r.headline;
    return h.toLowerCase().indexOf(l)===0?h.slice(l.length).trim():h;}
  function legend(){
    var box=el('div','legend'), row=el('div','legrow');
    row.appendChild(el('span','small','real')); row.appendChild(el('span','legbar')); row.appendChild(el('span','small','AI'));
    box.appendChild(row);
    box.appendChild(el('div','note','One scale for every map and image: a cell\u2019s log-odds from \u2212HEAT_LOGIT (blue) '+
      'through 0 (pale: no evidence either way) to +HEAT_LOGIT (red). Transparent cells were not measured.'));
    return box;
  }
  // Fill `panel` with row `r` (built by forensics.batch.report.panel_row). opt: scale (log-odds at
  // half a bar), close(), step(d) or null, marks {get(r), set(m)} or null, allMaps.
  function render(panel,r,opt){
    panel.textContent='';
    var top=el('div','top'); top.appendChild(el('h2',null,r.source));
    (opt.step?[['prev','\u2190',-1],['next','\u2192',1],['close','\u2715',0]]:[['close','\u2715',0]]).forEach(function(b){
      var x=el('button',null,b[1]); x.type='button'; x.id='d-'+b[0]; x.title=b[0];
      x.addEventListener('click',function(){if(b[2]) opt.step(b[2]); else opt.close();}); top.appendChild(x);});
    panel.appendChild(top);
    var h=el('p','verdict'); h.appendChild(el('span','badge v-'+r.verdict,r.verdict_label));
    h.appendChild(document.createTextNode(' '+said(r))); panel.appendChild(h);
    panel.appendChild(el('div','note',r.rule));
    if(opt.marks){
      var marks=el('div','marks'); marks.appendChild(document.createTextNode('your mark: '));
      [['ai','AI'],['real','real'],['unsure','unsure'],['','clear']].forEach(function(m){
        var b=el('button',null,m[1]); b.type='button'; b.setAttribute('data-m',m[0]); b.classList.toggle('on',m[0]===opt.marks.get(r));
        b.addEventListener('click',function(){opt.marks.set(m[0]);}); marks.appendChild(b);});
      panel.appendChild(marks);
    }
    var stage=el('div','stage');
    if(r.image){var im=el('img'); im.src=r.image; im.alt='image as analysed'; im.className='big'+(r.small?' small-src':'');
      stage.appendChild(im);}
    else stage.appendChild(el('div','ph',r.note||'no image'));
    panel.appendChild(stage);
    var heats=r.signals.filter(function(s){return s.heat;});
    var unweighed=heats.filter(function(s){return !s.in_fusion;}).length;
    var shown=heats.filter(function(s){return s.in_fusion||opt.allMaps;});
    if(heats.length) panel.appendChild(el('h2',null,'Heatmaps (opacity per signal)'));
    if(shown.length){
      var ctl=el('div','hmctl');
      shown.forEach(function(s,k){
        var o=el('img','hm'); o.src=s.heat; o.alt=s.name+' heatmap'; o.style.opacity=k===0?'0.6':'0';
        o.setAttribute('data-signal',s.name); if(r.image) stage.appendChild(o);
        ctl.appendChild(el('span',null,s.name+(s.in_fusion?'':' (not weighed)')));
        var sl=el('input'); sl.type='range'; sl.min='0'; sl.max='100'; sl.value=k===0?'60':'0';
        sl.setAttribute('data-signal',s.name); sl.setAttribute('aria-label',s.name+' heatmap opacity');
        sl.addEventListener('input',function(){o.style.opacity=String(sl.value/100);});
        // a slider lets go of the keyboard once moved: the panel's keys keep working
        sl.addEventListener('change',function(){sl.blur();});
        sl.addEventListener('pointerup',function(){sl.blur();});
        ctl.appendChild(sl);
      });
      panel.appendChild(ctl);
      panel.appendChild(legend());
    }
    if(unweighed){
      var more=el('button','small',(opt.allMaps?'hide':'show')+' the maps of signals the fusion does not weigh ('+unweighed+')');
      more.type='button'; more.id='d-allmaps';
      more.addEventListener('click',function(){opt.allMaps=!opt.allMaps; render(panel,r,opt);});
      panel.appendChild(more);
    }
    panel.appendChild(el('h2',null,'Contributions (log-odds; red towards AI, blue towards real)'));
    var cg=el('div','contrib'), notRun=[];
    r.signals.forEach(function(s){
      if(s.status==='unavailable'||s.status==='error'){notRun.push(s.name); return;}
      cg.appendChild(el('span',null,s.name+(s.decisive?' (decisive)':'')));
      if(s.status==='ok' && s.in_fusion){
        cg.appendChild(el('span',null,(s.c>=0?'+':'')+s.c.toFixed(2)+(s.calibrated?'':' *')));
        var bar=el('div','bar'), sp=el('span',s.c>=0?'pos':'neg'), w=Math.min(1,Math.abs(s.c)/opt.scale)*50;
        sp.style.width=w.toFixed(1)+'%'; if(s.c>=0) sp.style.left='50%'; else sp.style.right='50%';
        bar.appendChild(sp); cg.appendChild(bar);
      } else { cg.appendChild(el('span','small',s.status==='ok'?'not weighed':s.status)); cg.appendChild(el('span')); }
    });
    cg.appendChild(el('span',null,'(intercept)')); cg.appendChild(el('span',null,(r.intercept>=0?'+':'')+r.intercept.toFixed(2)));
    cg.appendChild(el('span'));
    panel.appendChild(cg);
    if(notRun.length) panel.appendChild(el('div','note','did not run: '+notRun.join(', ')));
    panel.appendChild(el('h2',null,'Evidence'));
    var ul=el('ul','ev');
    r.signals.forEach(function(s){if(s.status!=='ok'&&s.status!=='abstained') return;
      var li=el('li'); li.appendChild(el('b',null,s.name+': ')); li.appendChild(document.createTextNode(s.text)); ul.appendChild(li);});
    panel.appendChild(ul);
    panel.appendChild(el('h2',null,'File'));
    var dl=el('dl','md');
    r.meta.forEach(function(kv){dl.appendChild(el('dt',null,kv[0])); dl.appendChild(el('dd',null,kv[1]));});
    panel.appendChild(dl);
    panel.hidden=false;
  }
  // the keys of a page with the panel: Esc always closes it; elsewhere only text fields keep their keys
  function keys(handlers){
    document.addEventListener('keydown',function(ev){
      if(ev.key==='Escape'){handlers.close(); if(ev.target&&ev.target.blur) ev.target.blur(); return;}
      var t=ev.target, tag=t&&t.tagName;
      if(tag==='SELECT'||tag==='TEXTAREA'||(tag==='INPUT'&&t.type!=='range'&&t.type!=='checkbox')) return;
      if(handlers.key(ev.key)) ev.preventDefault();
    });
  }
  // one CSV cell, for the report's and the service page's exports: quoted when needed, and never
  // a live spreadsheet formula (OWASP: a leading ' before =, +, -, @, tab or CR)
  function cell(v){v=(v===null||v===undefined)?'':String(v); if(/^[=+\-@\t\r]/.test(v)) v="'"+v;
    return /[",\r\n]/.test(v)?'"'+v.replace(/"/g,'""')+'"':v;}
  return {render:render, keys:keys, el:el, cell:cell};
})();
""".replace("HEAT_LOGIT", f"{HEAT_LOGIT:g}")

REPORT_JS = r"""
(function(){
  var data=JSON.parse(document.getElementById('data').textContent);
  var rows=data.rows, byI={};
  rows.forEach(function(r){byI[r.i]=r;});
  var tbody=document.querySelector('#results tbody'), gallery=document.getElementById('gallery');
  var trs={}, tiles={};
  Array.prototype.forEach.call(tbody.rows,function(tr){trs[tr.getAttribute('data-i')]=tr;});
  Array.prototype.forEach.call(gallery.children,function(t){tiles[t.getAttribute('data-i')]=t;});
  // reviewer marks, kept in this browser for this report
  var KEY='forensics-report:'+data.id, marks={}, store=null, LABEL={'':'','ai':'AI','real':'real','unsure':'unsure'};
  try{store=window.localStorage; marks=JSON.parse(store.getItem(KEY)||'{}')||{};}catch(err){store=null;
    document.getElementById('storenote').textContent='marks are not kept: this browser blocks storage for the page';}
  function markOf(r){return marks[r.key]||'';}
  function setMark(i,m){
    var r=byI[i]; if(m) marks[r.key]=m; else delete marks[r.key];
    if(store){try{store.setItem(KEY,JSON.stringify(marks));}catch(err){}}
    showMark(r); if(cur===i) renderMarks(r); apply();
  }
  function showMark(r){
    var m=markOf(r), tr=trs[r.i], t=tiles[r.i];
    tr.setAttribute('data-mark',m); tr.querySelector('select.mark').value=m;
    t.querySelector('.mk').textContent=LABEL[m];
  }
  rows.forEach(showMark);
  Array.prototype.forEach.call(document.querySelectorAll('select.mark'),function(s){
    s.addEventListener('click',function(ev){ev.stopPropagation();});
    s.addEventListener('change',function(){setMark(+s.getAttribute('data-i'),s.value); s.blur();});
  });
  // sorting
  var sortKey='p', sortDir=-1;
  function keyOf(r,k){
    if(k==='p') return r.p; if(k==='file') return r.source.toLowerCase(); if(k==='verdict') return r.rank;
    if(k==='basis') return r.basis||''; if(k==='top') return r.top_abs; if(k==='mark') return markOf(r);
    return '';
  }
  var ths=document.querySelectorAll('#results th[data-key]');
  Array.prototype.forEach.call(ths,function(th){
    th.addEventListener('click',function(){
      var k=th.getAttribute('data-key');
      if(k===sortKey) sortDir=-sortDir; else {sortKey=k; sortDir=(k==='p'||k==='top')?-1:1;}
      order(); });
  });
  function order(){
    Array.prototype.forEach.call(ths,function(o){o.classList.remove('sorted-asc','sorted-desc');
      if(o.getAttribute('data-key')===sortKey) o.classList.add(sortDir>0?'sorted-asc':'sorted-desc');});
    var list=rows.slice();
    list.sort(function(a,b){var x=keyOf(a,sortKey),y=keyOf(b,sortKey); var c=x<y?-1:x>y?1:0; return c*sortDir||a.i-b.i;});
    list.forEach(function(r){tbody.appendChild(trs[r.i]); gallery.appendChild(tiles[r.i]);});
    apply();
  }
  // filtering
  var boxes=document.querySelectorAll('input.vf'), search=document.getElementById('q'), mf=document.getElementById('markfilter');
  var shown=document.getElementById('shown');
  function visible(r){
    var on={}; Array.prototype.forEach.call(boxes,function(b){on[b.value]=b.checked;});
    var q=(search.value||'').toLowerCase(), m=markOf(r), f=mf.value;
    return on[r.verdict] && (!q || r.source.toLowerCase().indexOf(q)>=0)
      && (f==='all' || (f==='unmarked' ? !m : f==='marked' ? !!m : m===f));
  }
  function apply(){
    var n=0;
    Array.prototype.forEach.call(tbody.rows,function(tr){
      var ok=visible(byI[tr.getAttribute('data-i')]); tr.style.display=ok?'':'none';
      tiles[tr.getAttribute('data-i')].style.display=ok?'':'none'; if(ok) n++; });
    var on=document.querySelector('input.vf[value=error]'), er=document.getElementById('errors');
    if(er&&on) er.style.display=on.checked?'':'none';
    shown.textContent=n;
  }
  function visibleInOrder(){
    return Array.prototype.filter.call(tbody.rows,function(tr){return tr.style.display!=='none';})
      .map(function(tr){return +tr.getAttribute('data-i');});
  }
  Array.prototype.forEach.call(boxes,function(b){b.addEventListener('change',apply);});
  search.addEventListener('input',apply); mf.addEventListener('change',function(){apply(); mf.blur();});
  // table or gallery
  var viewBtn=document.getElementById('view');
  viewBtn.addEventListener('click',function(){
    var g=document.body.classList.toggle('gallery'); viewBtn.textContent=g?'table view':'gallery view';});
  // CSV of the rows the filter shows, in the order shown
  var cell=forensicsPanel.cell;
  function csv(){
    var out=[['source','path','sha256','probability','verdict','basis','headline','generator','mark'].join(',')];
    visibleInOrder().forEach(function(i){var r=byI[i];
      out.push([r.source,r.path,r.sha256,r.p.toFixed(6),r.verdict,r.basis||'',r.headline,r.generator,markOf(r)].map(cell).join(','));});
    return out.join('\r\n')+'\r\n';
  }
  document.getElementById('export').addEventListener('click',function(){
    var a=document.createElement('a'); a.href=URL.createObjectURL(new Blob([csv()],{type:'text/csv'}));
    a.download=data.csv_name; document.body.appendChild(a); a.click();
    setTimeout(function(){URL.revokeObjectURL(a.href); a.remove();},1000);
  });
  window.forensicsReport={csv:csv};
  // the detail panel: forensicsPanel, shared with the page of `forensics serve`
  var panel=document.getElementById('detail'), cur=null;
  var popt={scale:data.scale, close:close, step:step, allMaps:false,
            marks:{get:markOf, set:function(m){setMark(cur,m);}}};
  function renderMarks(r){
    var box=panel.querySelector('.marks'); if(!box) return;
    Array.prototype.forEach.call(box.querySelectorAll('button'),function(b){b.classList.toggle('on',b.getAttribute('data-m')===markOf(r));});
  }
  function open(i){
    cur=i;
    Array.prototype.forEach.call(tbody.rows,function(tr){tr.classList.toggle('current',+tr.getAttribute('data-i')===i);});
    forensicsPanel.render(panel,byI[i],popt);
  }
  function close(){panel.hidden=true; cur=null;}
  function step(d){var v=visibleInOrder(), k=v.indexOf(cur); if(v.length) open(v[(k+d+v.length)%v.length]);}
  Array.prototype.forEach.call(tbody.rows,function(tr){tr.addEventListener('click',function(){open(+tr.getAttribute('data-i'));});});
  Array.prototype.forEach.call(gallery.children,function(t){t.addEventListener('click',function(){open(+t.getAttribute('data-i'));});});
  forensicsPanel.keys({close:close, key:function(k){
    if(cur===null) return false;
    if(k==='ArrowRight'||k==='j') step(1);
    else if(k==='ArrowLeft'||k==='k') step(-1);
    else if(k==='a'||k==='r'||k==='u') setMark(cur,{a:'ai',r:'real',u:'unsure'}[k]);
    else return false;
    return true;
  }});
  order();
  document.body.setAttribute('data-ready','1');
})();
"""
#: The report's script: the shared panel, then the table, gallery, marks and export.
JS = PANEL_JS + REPORT_JS


def _histogram_svg(good: list[dict[str, Any]]) -> str:
    """Counts of P(AI) in ten bins, each bar stacked by verdict."""
    bins = [Counter() for _ in range(HIST_BINS)]
    for r in good:
        k = min(HIST_BINS - 1, int(float(r["probability"]) * HIST_BINS))
        bins[k][str(r.get("verdict"))] += 1
    top = max([sum(b.values()) for b in bins] + [1])
    w, h, pad = 400, 110, 18
    bw = (w - 2) / HIST_BINS
    parts = [f'<svg class="hist" viewBox="-12 0 {w + 24} {h + pad}" role="img" aria-label="histogram of P(AI)">']
    colours = {"likely_real": "#1565c0", "inconclusive": "#8d6e00", "likely_ai": "#c62828"}
    for k, b in enumerate(bins):
        y = h
        for v in ("likely_real", "inconclusive", "likely_ai"):
            n = b.get(v, 0)
            if not n:
                continue
            bh = h * n / top
            y -= bh
            parts.append(f'<rect x="{1 + k * bw + 1:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                         f'fill="{colours[v]}"><title>P(AI) {k / HIST_BINS:.1f}-{(k + 1) / HIST_BINS:.1f}: '
                         f'{n} {VERDICT_LABELS[v]}</title></rect>')
        total = sum(b.values())
        if total:
            parts.append(f'<text x="{1 + (k + 0.5) * bw:.1f}" y="{max(y - 2, 9):.1f}" font-size="11" '
                         f'text-anchor="middle">{total}</text>')
    parts.append(f'<line x1="0" y1="{h}" x2="{w}" y2="{h}" stroke="#999"/>')
    for k in range(0, HIST_BINS + 1, 2):
        parts.append(f'<text x="{1 + k * bw:.1f}" y="{h + 14}" font-size="12" text-anchor="middle">{k / HIST_BINS:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _decider(r: dict[str, Any], signals: list[dict[str, Any]]) -> tuple[str | None, float]:
    """The signal that moved this row's logit most (a decisive one when it fired)."""
    decisive = [d for d in r.get("decisive") or [] if isinstance(d, str)]
    best, best_abs = None, 0.0
    for s in signals:
        c = s.get("contribution")
        if isinstance(c, (int, float)) and abs(c) > best_abs:
            best, best_abs = str(s.get("name")), abs(float(c))
    if decisive:
        return decisive[0], max(best_abs, 0.0)
    return best, best_abs


def panel_row(r: dict[str, Any], path: str, rgb: np.ndarray | None, note: str | None) -> dict[str, Any]:
    """What the detail panel (``PANEL_JS``) shows for one result row: the report and
    ``forensics serve``'s page both build it here. ``rgb`` is the image as analysed (``None``
    without one) and ``note`` says why there is none, or that the file changed."""
    image = r.get("image") if isinstance(r.get("image"), dict) else {}
    warn = _intake_warning(image)
    p = float(r["probability"])
    verdict = str(r.get("verdict"))
    basis = r.get("basis") if isinstance(r.get("basis"), dict) else {}
    basis_kind = basis.get("kind") if isinstance(basis.get("kind"), str) else None
    headline = str(r.get("headline") or _fallback_headline(verdict, p))
    signals = [s for s in r.get("signals") or [] if isinstance(s, dict)]
    decisive = {d for d in r.get("decisive") or [] if isinstance(d, str)}
    sigs = []
    for s in signals:
        c = s.get("contribution")
        entry = {"name": str(s.get("name")), "status": str(s.get("status")),
                 "c": float(c) if isinstance(c, (int, float)) else 0.0,
                 "calibrated": bool(s.get("calibrated", True)), "in_fusion": bool(s.get("in_fusion", True)),
                 "decisive": s.get("name") in decisive,
                 "text": str(s.get("summary") or s.get("reason") or ""), "heat": None}
        if _valid_heatmap(s.get("heatmap")):
            im = heat_rgba(s["heatmap"])
            if im is not None:
                entry["heat"] = _data_uri(im, "PNG")
        sigs.append(entry)
    sigs.sort(key=lambda s: (s["status"] != "ok", -abs(s["c"])))
    decision = r.get("decision") if isinstance(r.get("decision"), dict) else {}
    fusion = r.get("fusion") if isinstance(r.get("fusion"), dict) else {}
    calib = r.get("calibration") if isinstance(r.get("calibration"), dict) else {}
    try:
        rule = rule_text(decision, p, verdict, str(fusion.get("name", "custom")), calib.get("name"))
    except (KeyError, TypeError, ValueError):
        rule = ""
    meta = [["path", path], ["format", f"{image.get('format')} {image.get('mode') or ''}".strip()],
            ["size", f"{image.get('width')} x {image.get('height')} px"
             + (f", {image['bytes']:,} bytes" if isinstance(image.get("bytes"), int) else "")],
            ["sha256", str(r.get("sha256"))], ["P(AI)", f"{p:.4f} (logit {float(r.get('logit') or 0):+.3f})"],
            ["basis", BASIS_LABELS.get(basis_kind, str(basis_kind))]]
    generator = describe(r.get("attribution") if isinstance(r.get("attribution"), dict) else None)
    if generator:
        meta.append(["generator", generator])
    if warn:
        meta.append(["intake", warn])
    if note:
        meta.append(["image", note])
    if image.get("n_frames", 1) not in (1, None):
        meta.append(["frames", f"{image.get('n_frames')} (the first is analysed)"])
    meta.append(["fusion", f"{fusion.get('name')} ({str(fusion.get('sha256'))[:12]})"])
    big = _data_uri(shrink(rgb, DETAIL_SIDE)) if rgb is not None else None
    return {"source": str(r.get("source")), "path": path, "sha256": r.get("sha256"),
            "p": p, "verdict": verdict, "verdict_label": VERDICT_LABELS.get(verdict, verdict),
            "rank": VERDICT_RANK.get(verdict, 3), "basis": basis_kind, "headline": headline,
            "generator": short(r.get("attribution") if isinstance(r.get("attribution"), dict) else None) or "",
            "rule": rule, "intercept": float(r.get("intercept") or 0.0),
            "signals": sigs, "image": big, "note": note, "meta": meta,
            # shown larger than it is: pixels stay square instead of blurring
            "small": rgb is not None and max(rgb.shape[:2]) < 280}


def _intake_warning(image: dict[str, Any]) -> str:
    warn = "; ".join(str(w) for w in image.get("warnings") or [])
    return warn or ("file is truncated" if image.get("truncated") else "")


def _fallback_headline(verdict: str, p: float) -> str:
    """Rows scanned before schema 2 have no headline: say only what the row holds."""
    return f"{VERDICT_LABELS.get(verdict, verdict)} (P {fmt_p(p)}); scanned before the verdict's basis was recorded"


def build_report(results: str | os.PathLike, output: str | os.PathLike, *, thumbnails: bool = True,
                 title: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> ReportSummary:
    """Write the HTML report of the scan file ``results`` to ``output``.

    Images are decoded from the source files named in the rows (``scan.path``, else
    ``source``) with the engine's own intake, when they can be read here; a placeholder
    otherwise. Rows are sorted by P(AI), highest first.
    """
    rows, unreadable, dropped = load_rows(results)
    good = [r for r in rows if isinstance(r.get("probability"), (int, float)) and not isinstance(r.get("probability"), bool)
            and math.isfinite(r["probability"]) and "error" not in r]
    bad = [r for r in rows if isinstance(r.get("error"), dict)]
    good.sort(key=lambda r: (-float(r["probability"]), str(r.get("source"))))
    contribs = [abs(s["contribution"]) for r in good for s in r.get("signals") or []
                if isinstance(s, dict) and isinstance(s.get("contribution"), (int, float))]
    scale = max(contribs) if contribs and max(contribs) > 0 else 1.0
    scale = min(scale, 8.0)  # a decisive +12 would flatten every other bar
    counts = Counter(str(r.get("verdict")) for r in good)
    basis_counts: Counter = Counter()
    deciders: Counter = Counter()
    n_thumbs = n_changed = 0
    data_rows: list[dict[str, Any]] = []
    body_rows: list[str] = []
    tiles: list[str] = []
    for i, r in enumerate(good):
        scan_info = r.get("scan") if isinstance(r.get("scan"), dict) else {}
        path = str(scan_info.get("path") or r.get("source"))
        signals = [s for s in r.get("signals") or [] if isinstance(s, dict)]
        rgb, note = decoded_pixels(path, r.get("sha256"), max_pixels) if thumbnails else (None, "thumbnails off")
        thumb = None
        if rgb is not None:
            n_thumbs += 1
            thumb = _data_uri(shrink(rgb, THUMB_SIDE))
        if note and note.startswith("file changed"):
            n_changed += 1
        row = panel_row(r, path, rgb, note)
        if id(r) in dropped:
            row["meta"].append(["report", dropped[id(r)]])
        image = r.get("image") if isinstance(r.get("image"), dict) else {}
        warn, verdict, headline, p = _intake_warning(image), row["verdict"], row["headline"], row["p"]
        basis_counts[row["basis"]] += 1
        top, top_abs = _decider(r, signals)
        if top:
            deciders[top] += 1
        top_s = next((s for s in signals if s.get("name") == top), None)
        top_c = top_s.get("contribution") if top_s else None
        data_rows.append({"i": i, "key": f"{r.get('sha256')}|{path}", "top_abs": top_abs, **row})
        name = os.path.basename(str(r.get("source"))) or str(r.get("source"))
        img = (f'<img src="{thumb}" alt="thumbnail">' if thumb
               else f'<span class="ph" title="{e(note or "no thumbnail")}">{e(note or "no thumbnail")}</span>')
        sub = f'{e(image.get("format"))} {e(image.get("width"))}x{e(image.get("height"))}'
        extra = ""
        if warn:
            extra += f'<div class="warn" title="{e(warn)}">{e(warn)}</div>'
        if note and thumbnails and rgb is not None:
            extra += f'<div class="warn">{e(note)}</div>'
        top_txt = (f'{e(top)} {float(top_c):+.2f}' if top and isinstance(top_c, (int, float)) else e(top or "-"))
        body_rows.append(
            f'<tr class="row" data-i="{i}" data-verdict="{e(verdict)}" data-path="{e(r.get("source"))}">'
            f'<td class="c-img img">{img}</td>'
            f'<td class="c-file"><div class="file" title="{e(r.get("source"))}">{e(name)}</div>'
            f'<div class="small" title="{e(r.get("source"))}">{sub} &middot; {e(os.path.dirname(str(r.get("source"))))}</div>{extra}</td>'
            f'<td class="c-p">{p:.3f}<div class="prob"><span style="width:{p * 100:.1f}%"></span></div></td>'
            f'<td class="c-v"><span class="badge v-{e(verdict)}">{e(VERDICT_LABELS.get(verdict, verdict))}</span></td>'
            f'<td class="c-h"><div class="headline" title="{e(headline)}">{e(headline)}</div></td>'
            f'<td class="c-top"><div class="small">{top_txt}</div>'
            f'{_bar(top_c if isinstance(top_c, (int, float)) else None, scale)}</td>'
            f'<td class="c-mark"><select class="mark" data-i="{i}" aria-label="your mark">'
            '<option value="">-</option><option value="ai">AI</option><option value="real">real</option>'
            '<option value="unsure">unsure</option></select></td></tr>')
        tiles.append(
            f'<div class="tile" data-i="{i}" data-verdict="{e(verdict)}">{img}'
            f'<div class="cap"><span class="badge v-{e(verdict)}">{p:.2f}</span><span class="mk"></span></div>'
            f'<div class="file" title="{e(r.get("source"))}">{e(name)}</div></div>')

    err_rows = "".join(
        f'<tr><td>{e(r.get("source"))}</td><td>{e(r["error"].get("type"))}</td><td>{e(r["error"].get("message"))}</td></tr>'
        for r in bad)
    script_hash = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
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
    report_id = hashlib.sha256("\n".join(sorted(d["key"] for d in data_rows)).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    chips = "".join(f'<span><span class="badge v-{v}">{VERDICT_LABELS[v]}</span> {counts.get(v, 0)}</span>'
                    for v in VERDICT_LABELS) + f'<span>errors {len(bad)}</span>'
    basis_chips = "".join(f"<span>{e(BASIS_LABELS.get(k, k))} {n}</span>" for k, n in basis_counts.most_common())
    decided = "".join(f"<li>{e(n)}: {c} image(s)</li>" for n, c in deciders.most_common(6)) or "<li>none</li>"
    filters = "".join(
        f'<label><input type="checkbox" class="vf" value="{v}" checked> {VERDICT_LABELS[v]} ({counts.get(v, 0)})</label>'
        for v in VERDICT_LABELS) + f'<label><input type="checkbox" class="vf" value="error" checked> errors ({len(bad)})</label>'
    err_rows += "".join(f'<tr><td>line {n}</td><td>unreadable row</td><td>{e(why)}</td></tr>' for n, why in unreadable)
    payload = {"id": report_id, "scale": scale, "rows": for_terminal(data_rows),
               "csv_name": f"{Path(results).stem}-marks.csv"}
    ran = {str(sig.get("name")) for r in good for sig in r.get("signals") or [] if isinstance(sig, dict) and sig.get("status") == "ok"}
    footer = "; ".join(f"<b>{e(n)}</b> did not run ({e(why)})" for n, why in unavailable.items())
    if uncal and ran.intersection(uncal):
        footer += ("; " if footer else "") + "* a prior weight, not fitted on data: " + e(", ".join(sorted(ran.intersection(uncal))))
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
<div class="summary">
<div class="card"><h3>Verdicts</h3><div class="chips">{chips}</div>
<h3 style="margin-top:8px">What they rest on</h3><div class="chips">{basis_chips or "-"}</div></div>
<div class="card"><h3>P(AI), by verdict</h3>{_histogram_svg(good)}</div>
<div class="card"><h3>Signals that decided most</h3><ol class="deciders">{decided}</ol>
<div class="small">the signal that moved each image's log-odds most (a decisive one when it fired)</div></div>
</div>
<div class="meta">P(AI) is the fused probability; the headline names the verdict and what it rests on ("no AI evidence
found" is not "real"). Bars are log-odds contributions: red towards AI, blue towards real, one scale ({scale:.2f} = half
width). Click a row for the image, its heatmaps and evidence; keys: &larr; &rarr; move, a / r / u mark, Esc closes.</div>
<div class="controls">{filters}
<label>marks <select id="markfilter"><option value="all">all</option><option value="unmarked">unmarked</option>
<option value="marked">marked</option><option value="ai">AI</option><option value="real">real</option><option value="unsure">unsure</option></select></label>
<input type="search" id="q" placeholder="filter by path" aria-label="filter by path">
<button id="view" type="button">gallery view</button><button id="export" type="button">export CSV (shown rows)</button>
<span class="small"><span id="shown">{len(good)}</span> shown</span><span class="warn" id="storenote"></span></div>
<div id="tablewrap"><table id="results">
<thead><tr><th class="c-img">image</th><th class="c-file" data-key="file">file</th><th class="c-p sorted-desc" data-key="p">P(AI)</th>
<th class="c-v" data-key="verdict">verdict</th><th class="c-h" data-key="basis">headline</th><th class="c-top" data-key="top">top signal</th>
<th class="c-mark" data-key="mark">mark</th></tr></thead>
<tbody>
{"".join(body_rows)}
</tbody></table></div>
<div id="gallery">{"".join(tiles)}</div>
<div id="errors"><h2>Inputs that could not be analysed ({len(bad) + len(unreadable)})</h2>
{f'<table class="errors"><colgroup><col style="width:30%"><col style="width:150px"><col></colgroup><thead><tr><th>file</th><th>error</th><th>message</th></tr></thead><tbody>{err_rows}</tbody></table>' if err_rows else '<p class="small">none</p>'}
</div>
{f'<footer class="note">{footer}</footer>' if footer else ""}
<aside id="detail" hidden aria-label="image detail"></aside>
<script type="application/json" id="data">{_json_block(payload)}</script>
<script>{JS}</script>
</body></html>
"""
    out = Path(output)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return ReportSummary(str(out), len(rows), len(good), len(bad), n_thumbs, n_changed, len(unreadable))


# -- reading the rows -----------------------------------------------------------------------------
#: Longest line read as a row (a row with every signal's 64 x 64 heatmap is under 1 MB); a
#: longer one is listed as unreadable without being parsed.
MAX_ROW_BYTES = 8 * 1024 * 1024


def load_rows(results: str | os.PathLike) -> tuple[list[dict[str, Any]], list[tuple[int, str]], dict[int, str]]:
    """``(rows, unreadable, dropped)`` of a results file: the latest valid row per file; each
    line that is not a valid row as ``(line number, reason)`` (the reason names the field and
    the rule, never the value); and a note per row (by ``id``) whose oversized heatmaps were
    dropped. Raises :class:`ForensicsError` when the file cannot be read or holds no result row
    at all (an image, a CSV...): it is not a results file."""
    from forensics.decision import JSON_HEATMAP_MAX_SIDE

    validators = _validators()
    latest: dict[str, dict[str, Any]] = {}
    unreadable: list[tuple[int, str]] = []
    dropped: dict[int, str] = {}
    rows_seen = lines = 0
    try:
        fh = open(results, "rb")
    except OSError as exc:
        raise ForensicsError(f"{results}: cannot read the results ({exc.strerror or exc})") from None
    with fh:
        for n, line, size in _lines(fh):
            if line is None:
                unreadable.append((n, f"a line of {size:,} bytes, above the {MAX_ROW_BYTES >> 20} MiB limit of a row"))
                lines += 1
                continue
            if not line.strip():
                continue
            lines += 1
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                unreadable.append((n, "not JSON"))
                continue
            if not isinstance(row, dict):
                unreadable.append((n, "not a JSON object"))
                continue
            rows_seen += row.get("schema") == "forensics.analysis"
            why, note = _row_problem(row, validators, JSON_HEATMAP_MAX_SIDE)
            if why:
                unreadable.append((n, why))
                continue
            latest[row_key(row)] = row
            if note:
                dropped[id(row)] = note
    if lines and not rows_seen:
        raise ForensicsError(f"{results}: not a results file (no line is a result row of `forensics scan`); "
                             "give the JSON Lines file a scan wrote with -o")
    return list(latest.values()), unreadable, dropped


def _lines(fh: Any):
    """``(line number, bytes or None when longer than MAX_ROW_BYTES, size)``, reading at most
    ``MAX_ROW_BYTES + 1`` bytes of a line at once."""
    n = 0
    while True:
        line = fh.readline(MAX_ROW_BYTES + 1)
        if not line:
            return
        n += 1
        if len(line) <= MAX_ROW_BYTES:
            yield n, line, len(line)
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = fh.readline(1 << 20)
            if not line:
                break
            size += len(line)
        yield n, None, size


def _validators() -> dict[int, Any]:
    """A validator of the result schema per ``schema_version``: each older version is the current
    one without what later versions added (2 lacks the base rate, the likelihood-ratio
    thresholds and the decoded share; 1 also lacks ``headline``, ``basis`` and ``attribution``)."""
    import copy

    import jsonschema

    from forensics.analysis import SCHEMA_VERSION, result_schema

    added = {2: {"result": ("base_rate", "prior_log_odds"), "image": ("decoded_share",),
                 "decision": ("base_rate", "log_lr_real")},
             1: {"result": ("headline", "basis", "attribution")}}
    schema = result_schema()
    cls = jsonschema.validators.validator_for(schema)
    out = {SCHEMA_VERSION: cls(schema)}
    older = schema
    for version in range(SCHEMA_VERSION - 1, 0, -1):
        older = copy.deepcopy(older)
        older["$defs"]["header"]["properties"]["schema_version"] = {"const": version}
        result = older["$defs"]["result"]
        for where, names in added.get(version, {}).items():
            node = result if where == "result" else result["properties"][where]
            node["required"] = [k for k in node["required"] if k not in names]
        out[version] = cls(older)
    return out


def _row_problem(row: dict[str, Any], validators: dict[int, Any], max_side: int) -> tuple[str | None, str | None]:
    """``(why the row is invalid, note on heatmaps dropped)``. Heatmaps are checked here, not by
    the schema (thousands of numbers each): larger than ``max_side`` a side they are dropped."""
    bad = _non_finite(row, "")
    if bad is not None:
        return f"{bad or 'row'}: not a finite number", None
    version = row.get("schema_version")
    validator = validators.get(version) if isinstance(version, int) and not isinstance(version, bool) else None
    if validator is None:
        return f"schema_version: expected one of {sorted(validators)}", None
    maps: list[tuple[dict[str, Any], Any]] = []
    notes = []
    for s in row.get("signals") if isinstance(row.get("signals"), list) else []:
        if isinstance(s, dict) and s.get("heatmap") is not None:
            maps.append((s, s["heatmap"]))
            s["heatmap"] = None
    try:
        from jsonschema.exceptions import best_match

        err = best_match(validator.iter_errors(row))
    finally:
        for s, hm in maps:
            s["heatmap"] = hm
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "row"
        return f"{where}: does not satisfy {err.validator} {json.dumps(err.validator_value, default=str)[:80]}", None
    for s, hm in maps:
        shape = _heat_shape(hm)
        if shape is None:
            return f"signals/{s.get('name')}/heatmap: not a grid of numbers in [0, 1]", None
        if max(shape) > max_side:
            s["heatmap"] = None
            notes.append(f"{s.get('name')} heatmap dropped: {shape[0]} x {shape[1]} cells, above {max_side} a side")
    return None, "; ".join(notes) or None


def _non_finite(value: Any, where: str) -> str | None:
    """The path of the first NaN or infinity in ``value`` (``json`` reads ``NaN``), else ``None``."""
    if isinstance(value, float):
        return None if math.isfinite(value) else where
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        if isinstance(v, (dict, list, float)):
            found = _non_finite(v, f"{where}/{k}" if where else str(k))
            if found is not None:
                return found
    return None


def _heat_shape(hm: Any) -> tuple[int, int] | None:
    """``(rows, columns)`` of a heatmap grid of numbers in [0, 1] or null (no value there)."""
    if not (isinstance(hm, list) and hm and all(isinstance(r, list) for r in hm)):
        return None
    widths = {len(r) for r in hm}
    if len(widths) != 1 or 0 in widths:
        return None
    ok = all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1) for r in hm for x in r)
    return (len(hm), widths.pop()) if ok else None


def _bar(c: float | None, scale: float) -> str:
    if c is None:
        return ""
    frac = min(1.0, abs(c) / scale) * 50 if scale > 0 else 0
    side = f"left:50%;width:{frac:.1f}%" if c >= 0 else f"right:50%;width:{frac:.1f}%"
    return f'<div class="bar"><span class="{"pos" if c >= 0 else "neg"}" style="{side}"></span></div>'
