"""The pages of ``forensics serve``: the web page at ``/`` (the report's detail panel, one
copy: :data:`~forensics.batch.report.PANEL_CSS` and :data:`~forensics.batch.report.PANEL_JS`),
the OpenAPI schema and a docs page drawn from it. Nothing loads from the network: each page
carries its style and script, and its Content-Security-Policy admits only them (the script
by its hash) and, for the web page, requests to this service."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import lru_cache
from typing import Any

from forensics.batch.report import PANEL_CSS, PANEL_JS
from forensics.version import __version__

from .work import MAX_BATCH_FILES

PAGE_CSS = """
*{box-sizing:border-box}[hidden]{display:none!important}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:14px 18px;color:#222;background:#fafafa}
h1{font-size:19px;margin:0 0 4px}h2{font-size:15px;margin:16px 0 6px}
.meta{color:var(--mute);font-size:12px}
#drop{border:2px dashed #9aa;border-radius:8px;padding:26px;text-align:center;background:#fff;margin:12px 0}
#drop.over{border-color:var(--real);background:#f0f6ff}
#drop label.pick{color:var(--real);text-decoration:underline;cursor:pointer}
#drop input[type=file]{position:absolute;left:-9999px}
.controls{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin:8px 0}
table{border-collapse:collapse;background:#fff;width:100%;table-layout:fixed}
th,td{border-bottom:1px solid var(--line);padding:5px 6px;text-align:left;vertical-align:top;overflow:hidden;overflow-wrap:anywhere}
th{background:#f0f0f0;cursor:pointer;user-select:none}th.c-p{width:80px}th.c-v{width:110px}th.c-f{width:26%}
tr.row{cursor:pointer}tr.row:hover{background:#f5f8ff}tr.row.current{outline:2px solid #1565c0;outline-offset:-2px}
td.err{color:#7f1d1d}
"""

PAGE_JS = r"""
(function(){
  var P=forensicsPanel, el=P.el, body=document.body;
  var rows=[], byI={}, queue=[], active=0, cur=null, sortKey=null, sortDir=1, PARALLEL=2;
  var tbody=document.querySelector('#results tbody'), table=document.getElementById('results');
  var panel=document.getElementById('detail'), controls=document.getElementById('controls');
  var tokenBox=document.getElementById('token');
  var popt={scale:4, close:close, step:null, allMaps:false, marks:null};
  function close(){panel.hidden=true; cur=null; mark();}
  function mark(){Array.prototype.forEach.call(tbody.rows,function(tr){tr.classList.toggle('current',+tr.getAttribute('data-i')===cur);});}
  function shownOrder(){return Array.prototype.map.call(tbody.rows,function(tr){return +tr.getAttribute('data-i');})
    .filter(function(i){return byI[i].panel;});}
  function step(d){var v=shownOrder(), k=v.indexOf(cur); if(v.length) open(v[(k+d+v.length)%v.length]);}
  function open(i){
    var r=byI[i]; if(!r.panel) return; cur=i; mark();
    var big=0; r.panel.signals.forEach(function(s){if(s.status==='ok'&&s.in_fusion) big=Math.max(big,Math.abs(s.c));});
    popt.scale=Math.min(8,Math.max(1,big)); popt.step=shownOrder().length>1?step:null;
    P.render(panel,r.panel,popt);
  }
  function fill(r){
    var tr=r.tr; tr.textContent='';
    tr.appendChild(el('td','c-f',r.name));
    if(r.result){
      tr.appendChild(el('td','c-p',r.result.probability.toFixed(3)));
      var v=el('td','c-v'); v.appendChild(el('span','badge v-'+r.result.verdict,r.panel.verdict_label)); tr.appendChild(v);
      tr.appendChild(el('td','c-h',r.result.headline));
    } else if(r.error){
      tr.appendChild(el('td','c-p','-')); tr.appendChild(el('td','c-v err',r.error.type));
      tr.appendChild(el('td','c-h err',r.error.message));
    } else {tr.appendChild(el('td','c-p','\u2026')); tr.appendChild(el('td','c-v',r.state)); tr.appendChild(el('td','c-h'));}
    tr.setAttribute('data-state',r.state);
  }
  function add(file){
    var i=rows.length, r={i:i, name:file.name||'upload', file:file, state:'waiting'};
    r.tr=el('tr','row'); r.tr.setAttribute('data-i',i); r.tr.addEventListener('click',function(){open(i);});
    rows.push(r); byI[i]=r; tbody.appendChild(r.tr); fill(r); queue.push(r);
  }
  function pump(){
    while(active<PARALLEL&&queue.length){active++; send(queue.shift());}
    var done=rows.filter(function(r){return r.state==='done'||r.state==='error';}).length;
    document.getElementById('count').textContent=done+' of '+rows.length+' analysed';
    if(rows.length&&done===rows.length){body.setAttribute('data-done',String(done));
      if(rows.length===1&&rows[0].panel&&cur===null) open(0);}
  }
  function send(r){
    r.state='analysing'; fill(r);
    var fd=new FormData(); fd.append('file',r.file,r.name);
    var headers={}; if(tokenBox&&tokenBox.value) headers['Authorization']='Bearer '+tokenBox.value;
    fetch('v1/analyze?panel=true',{method:'POST',body:fd,headers:headers,cache:'no-store'})
      .then(function(resp){return resp.json().then(function(j){return [resp.status,j];},function(){return [resp.status,null];});})
      .then(function(x){
        if(x[0]===200&&x[1]&&x[1].result){r.result=x[1].result; r.panel=x[1].panel; r.state='done';}
        else {r.error=(x[1]&&x[1].error)||{type:'HTTP '+x[0],message:'no JSON answer'}; r.state='error';}
      },function(err){r.error={type:'NetworkError',message:String(err)}; r.state='error';})
      .then(function(){r.file=null; fill(r); active--; pump();});
  }
  function take(files){
    if(!files||!files.length) return;
    table.hidden=false; controls.hidden=false; body.removeAttribute('data-done');
    Array.prototype.forEach.call(files,add); pump();
  }
  var input=document.getElementById('files');
  input.addEventListener('change',function(){take(input.files); input.value='';});
  var drop=document.getElementById('drop');
  ['dragenter','dragover'].forEach(function(t){document.addEventListener(t,function(ev){ev.preventDefault(); drop.classList.add('over');});});
  ['dragleave','drop'].forEach(function(t){document.addEventListener(t,function(ev){ev.preventDefault(); drop.classList.remove('over');});});
  document.addEventListener('drop',function(ev){take(ev.dataTransfer&&ev.dataTransfer.files);});
  // sorting
  function keyOf(r,k){
    if(k==='p') return r.result?r.result.probability:-1; if(k==='file') return r.name.toLowerCase();
    if(k==='verdict') return r.result?r.result.verdict:'~'+(r.error?r.error.type:''); return '';
  }
  Array.prototype.forEach.call(document.querySelectorAll('#results th[data-key]'),function(th){
    th.addEventListener('click',function(){
      var k=th.getAttribute('data-key'); if(k===sortKey) sortDir=-sortDir; else {sortKey=k; sortDir=k==='p'?-1:1;}
      rows.slice().sort(function(a,b){var x=keyOf(a,k),y=keyOf(b,k); return (x<y?-1:x>y?1:0)*sortDir||a.i-b.i;})
        .forEach(function(r){tbody.appendChild(r.tr);});
    });
  });
  // exports: what the service answered, in the order shown
  function inOrder(){return Array.prototype.map.call(tbody.rows,function(tr){return byI[tr.getAttribute('data-i')];});}
  var cell=P.cell;
  function csv(){
    var out=[['source','sha256','probability','verdict','basis','headline','error'].join(',')];
    inOrder().forEach(function(r){var x=r.result;
      out.push([r.name,x?x.sha256:'',x?x.probability.toFixed(6):'',x?x.verdict:'',x&&x.basis?x.basis.kind:'',x?x.headline:'',
                r.error?r.error.type+': '+r.error.message:''].map(cell).join(','));});
    return out.join('\r\n')+'\r\n';
  }
  function jsonl(){return inOrder().map(function(r){return JSON.stringify(r.result||{source:r.name,error:r.error||null});}).join('\n')+'\n';}
  function save(text,type,name){
    var a=document.createElement('a'); a.href=URL.createObjectURL(new Blob([text],{type:type})); a.download=name;
    document.body.appendChild(a); a.click(); setTimeout(function(){URL.revokeObjectURL(a.href); a.remove();},1000);
  }
  document.getElementById('csv').addEventListener('click',function(){save(csv(),'text/csv','forensics.csv');});
  document.getElementById('jsonl').addEventListener('click',function(){save(jsonl(),'application/x-ndjson','forensics.jsonl');});
  P.keys({close:close, key:function(k){
    if(cur===null) return false;
    if(k==='ArrowRight'||k==='j') step(1); else if(k==='ArrowLeft'||k==='k') step(-1); else return false;
    return true;
  }});
  window.forensicsPage={csv:csv, jsonl:jsonl};
  body.setAttribute('data-ready','1');
})();
"""


#: Sent in the header only: browsers ignore (and warn about) it in a <meta> policy.
FRAMES = "; frame-ancestors 'none'"


def _hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


@lru_cache(maxsize=2)
def web_page(*, token: bool) -> tuple[str, str]:
    """``(html, csp)`` of the page at ``/``; ``token``: the service wants a bearer token, so
    the page asks for it (kept in the page only, sent with each request)."""
    script = PANEL_JS + PAGE_JS
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src '{_hash(script)}'; "
           "connect-src 'self'; base-uri 'none'; form-action 'none'" + FRAMES)
    ask = ('<p><label>token <input type="password" id="token" autocomplete="off" size="28"></label> '
           '<span class="meta">this service needs its bearer token</span></p>') if token else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(csp.removesuffix(FRAMES))}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>forensics</title><style>{PANEL_CSS}{PAGE_CSS}</style></head>
<body>
<h1>Was this image generated?</h1>
<div class="meta">forensics {html.escape(__version__)}, running on this machine: images are analysed here and sent nowhere else.
<a href="v1/docs">API</a></div>
<div id="drop"><p>Drop images here, or <label class="pick">choose files<input type="file" id="files" accept="image/*" multiple></label>.</p>
{ask}<p class="meta">Each image gets a verdict, P(AI), the rule that decided it, each signal's contribution, evidence, metadata and heatmaps.</p></div>
<div class="controls" id="controls" hidden><span id="count"></span>
<button id="csv" type="button">export CSV</button><button id="jsonl" type="button">export JSONL</button></div>
<table id="results" hidden><thead><tr><th class="c-f" data-key="file">file</th><th class="c-p" data-key="p">P(AI)</th>
<th class="c-v" data-key="verdict">verdict</th><th class="c-h">headline</th></tr></thead><tbody></tbody></table>
<aside id="detail" hidden aria-label="image detail"></aside>
<script>{script}</script>
</body></html>
"""
    return page, csp


def _error_ref() -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ERRORS = {"400": "bad options, or no `file` field", "401": "no or wrong bearer token (when the service has one)",
          "413": "over --max-bytes (refused while streaming)", "415": "not an image, or a format that is not supported",
          "422": "an image that cannot be read", "500": "the worker analysing the file died (it is replaced)",
          "503": "the queue is full: retry after `Retry-After` seconds", "504": "past the per-file --timeout"}


@lru_cache(maxsize=1)
def openapi_schema() -> dict[str, Any]:
    """The OpenAPI 3.1 description of ``/v1``."""
    options = [
        {"name": "signals", "in": "query", "schema": {"type": "string"}, "description": "comma-separated signal names (default: the service's)"},
        {"name": "heatmaps", "in": "query", "schema": {"type": "boolean", "default": True}, "description": "include each signal's heatmap grid"},
    ]
    upload = {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}}}}
    errors = {code: {"description": text, **_error_ref()} for code, text in ERRORS.items()}
    result = {"description": "the `forensics analyze --json` object (schema forensics/schema/analysis.schema.json)",
              "content": {"application/json": {"schema": {"type": "object"}}}}
    secured = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "forensics", "version": __version__,
                 "description": "Was this image generated? Offline multi-signal forensics, served on this machine."},
        "paths": {
            "/v1/analyze": {"post": {
                "summary": "Analyse one image", "security": secured,
                "parameters": options + [
                    {"name": "name", "in": "query", "schema": {"type": "string"}, "description": "the name to report a raw-body upload under"},
                    {"name": "panel", "in": "query", "schema": {"type": "boolean", "default": False},
                     "description": "answer {result, panel}: the result and what the web page's detail panel draws"}],
                "requestBody": upload, "responses": {"200": result, **errors}}},
            "/v1/analyze/batch": {"post": {
                "summary": f"Analyse up to {MAX_BATCH_FILES} images (multipart, one `file` field each); one result or error object per file, in order",
                "security": secured, "parameters": options,
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
                "responses": {"200": {"description": "{results: [...]}: each a result, or {source, status, error}",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              **{k: v for k, v in errors.items() if k in ("400", "401", "413", "415", "503")}}}},
            "/v1/health": {"get": {"summary": "Liveness, models loaded, queue depth (no token needed)",
                                   "responses": {"200": {"description": "status"}}}},
            "/v1/signals": {"get": {"summary": "The registered signals and whether each can run here", "security": secured,
                                    "responses": {"200": {"description": "signals"}, "401": errors["401"]}}},
            "/v1/version": {"get": {"summary": "Versions of the engine and of the result schema", "security": secured,
                                    "responses": {"200": {"description": "versions"}, "401": errors["401"]}}},
            "/v1/openapi.json": {"get": {"summary": "This schema", "security": secured, "responses": {"200": {"description": "OpenAPI"}}}},
            "/v1/docs": {"get": {"summary": "This schema as a page", "security": secured, "responses": {"200": {"description": "HTML"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "only when the service was started with --token-file"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
    }


DOCS_CSS = """body{font:14px/1.5 system-ui,sans-serif;max-width:900px;margin:16px auto;padding:0 14px;color:#222}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}pre{background:#f4f4f4;padding:8px;overflow-x:auto}
h2{font-size:16px;margin-top:22px}table{border-collapse:collapse}td{padding:2px 10px 2px 0;vertical-align:top}"""


@lru_cache(maxsize=1)
def docs_page() -> tuple[str, str]:
    """``(html, csp)``: the OpenAPI schema as a page, with no script and nothing fetched."""
    e = html.escape
    spec = openapi_schema()
    parts = [f"<h1>forensics {e(__version__)}: API v1</h1><p>The schema: <a href=\"openapi.json\">/v1/openapi.json</a>. "
             "With a token, send <code>Authorization: Bearer &lt;token&gt;</code> on every route but /v1/health.</p>"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h2>{e(method.upper())} {e(path)}</h2><p>{e(op['summary'])}</p>")
            params = op.get("parameters") or []
            if params:
                parts.append("<table>" + "".join(f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p.get('description', ''))}</td></tr>"
                                                 for p in params) + "</table>")
            codes = ", ".join(f"{e(k)} {e(v['description'])}" for k, v in op["responses"].items())
            parts.append(f"<p><small>responses: {codes}</small></p>")
    parts.append("<h2>Example</h2><pre>curl -s -F file=@photo.jpg http://127.0.0.1:8787/v1/analyze\n"
                 "curl -s -H 'Content-Type: image/jpeg' --data-binary @photo.jpg 'http://127.0.0.1:8787/v1/analyze?heatmaps=false'</pre>")
    csp = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'" + FRAMES
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
            f'content="{e(csp.removesuffix(FRAMES))}"><title>forensics API</title><style>{DOCS_CSS}</style></head><body>{"".join(parts)}'
            f'<h2>Schema</h2><pre>{e(json.dumps(spec, indent=1))}</pre></body></html>')
    return page, csp
