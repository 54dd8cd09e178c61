"""``forensics serve`` on a real loopback socket: every status code, auth, a streamed
over-size body, crashing and hanging files, 16 clients at once, the page in Chromium."""

import base64
import hashlib
import http.client
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from forensics.analysis import Engine  # noqa: E402
from forensics.cli.main import main  # noqa: E402
from forensics.serve.app import AccessLog, Settings, create_app  # noqa: E402
from forensics.serve.work import Dispatcher  # noqa: E402
from support.batch_signals import Redness, Saboteur, Sharpness, batch_fusion, coloured  # noqa: E402
from support.images import encode  # noqa: E402

TOKEN = "test-token-" + "x" * 16
MAX_BYTES = 200_000


class Server:
    """A real uvicorn server on 127.0.0.1 (a free port), in a thread of this process."""

    def __init__(self, *, workers=2, timeout=3.0, queue=32, token=TOKEN, engine_kwargs=None, max_bytes=MAX_BYTES):
        self.token = token
        kwargs = engine_kwargs if engine_kwargs is not None else {"signals": [Redness(), Sharpness(), Saboteur()],
                                                                    "fusion": batch_fusion()}
        self.kwargs = kwargs
        self.dispatcher = Dispatcher(kwargs, workers=workers, timeout=timeout, queue=queue)
        app = AccessLog(create_app(self.dispatcher, Settings(token=token, max_bytes=max_bytes, timeout=timeout)))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if self.get("/v1/health")[1].get("models_loaded"):
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)

    def request(self, method, path, body=None, headers=None, auth=True, chunks=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        if auth and self.token:
            h["Authorization"] = f"Bearer {self.token}"
        try:
            if chunks is not None:
                conn.putrequest(method, path)
                for k, v in {**h, "Transfer-Encoding": "chunked"}.items():
                    conn.putheader(k, v)
                conn.endheaders()
                try:
                    for c in chunks:
                        conn.send(f"{len(c):x}\r\n".encode() + c + b"\r\n")
                    conn.send(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # refused mid-stream: the answer is still there to read
            else:
                conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            ctype = resp.getheader("Content-Type", "")
            return resp.status, (json.loads(data) if ctype.startswith("application/json") else data), dict(resp.getheaders())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_file(self, path, data, name="img.png", headers=None, **kw):
        body, ctype = multipart([("file", name, data)])
        return self.request("POST", path, body=body, headers={"Content-Type": ctype, **(headers or {})}, **kw)


def multipart(files):
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for field, name, data in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                  f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def png(h, w, seed):
    return encode(coloured(h, w, seed), "PNG")


@pytest.fixture(scope="module")
def server():
    with Server() as s:
        yield s


def test_health_needs_no_token_and_reports_the_workers(server):
    status, body, _ = server.get("/v1/health", auth=False)
    assert status == 200 and body["status"] == "ok" and body["workers"] == 2 and body["models_loaded"] is True
    assert body["queue"] == {"depth": 0, "waiting": 0, "limit": 32}


@pytest.mark.parametrize("path", ["/v1/version", "/v1/signals", "/v1/openapi.json", "/v1/docs"])
def test_every_other_route_needs_the_token(server, path):
    status, body, headers = server.get(path, auth=False)
    assert status == 401 and body["error"]["type"] == "Unauthorized" and headers["www-authenticate"].startswith("Bearer")
    assert server.get(path, headers={"Authorization": "Bearer " + "y" * len(TOKEN)}, auth=False)[0] == 401
    assert server.get(path, headers={"Authorization": "Basic " + TOKEN}, auth=False)[0] == 401
    assert server.get(path)[0] == 200


def test_requests_a_page_elsewhere_could_send_are_refused(server):
    status, body, _ = server.post_file("/v1/analyze", png(40, 40, 1), headers={"Origin": "http://evil.example"})
    assert status == 403 and body["error"]["type"] == "Forbidden"
    assert server.post_file("/v1/analyze", png(40, 40, 1), headers={"Origin": f"http://127.0.0.1:{server.port}"})[0] == 200
    with Server(workers=1, token=None) as open_server:  # no token: loopback names only (DNS rebinding)
        assert open_server.get("/v1/version")[0] == 200
        assert open_server.get("/v1/version", headers={"Host": f"rebound.example:{open_server.port}"})[0] == 403
        assert open_server.get("/", headers={"Host": "rebound.example"})[0] == 403


def test_analyze_gives_the_engines_json(server):
    data = png(48, 64, 3)
    status, body, _ = server.post_file("/v1/analyze", data, name="pic.png")
    expected = Engine(**server.kwargs).analyze(data).to_dict()
    assert status == 200 and body["source"] == "pic.png"
    expected["source"] = "pic.png"
    assert body == json.loads(json.dumps(expected))
    # a raw image body, named by the query, without heatmaps
    status, raw, _ = server.request("POST", "/v1/analyze?name=raw.png&heatmaps=false", body=data,
                                    headers={"Content-Type": "image/png"})
    assert status == 200 and raw["source"] == "raw.png" and raw["probability"] == body["probability"]
    assert all(s["heatmap"] is None for s in raw["signals"]) and any(s["heatmap"] for s in body["signals"])
    status, only, _ = server.post_file("/v1/analyze?signals=exif", data)  # a registered signal, with the service's fusion
    assert status == 200 and [s["name"] for s in only["signals"]] == ["exif"]


def test_each_error_is_json_with_its_status(server):
    cases = {
        400: server.request("POST", "/v1/analyze", *multipart_field_only()),
        404: server.get("/v1/nothing-here"),
        405: server.get("/v1/analyze"),
        415: server.post_file("/v1/analyze", b"just some text\n", name="notes.txt"),
        422: server.post_file("/v1/analyze", png(40, 40, 1)[:300], name="cut.png"),
    }
    for code, (status, body, _) in cases.items():
        assert status == code, (code, body)
        assert set(body["error"]) == {"type", "message"}, body
    assert "cut.png" in cases[422][1]["error"]["message"]
    assert "not a recognised image" in cases[415][1]["error"]["message"]
    bad = [server.post_file("/v1/analyze?signals=exiff", png(40, 40, 1)),
           server.post_file("/v1/analyze?heatmaps=maybe", png(40, 40, 1)),
           server.post_file("/v1/analyze?colour=red", png(40, 40, 1)),
           server.request("POST", "/v1/analyze", body=b"x", headers={"Content-Type": "text/plain"})]
    assert [b[0] for b in bad] == [400, 400, 400, 415]
    assert re.search(r"did you mean 'exif'", bad[0][1]["error"]["message"])


def multipart_field_only():
    boundary = "b0undary"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="other"\r\n\r\nvalue\r\n--{boundary}--\r\n'.encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_over_size_bodies_get_413_and_the_service_goes_on(server):
    big = os.urandom(MAX_BYTES + 1)
    status, body, headers = server.request("POST", "/v1/analyze", body=big, headers={"Content-Type": "image/png"})
    assert status == 413 and body["error"]["type"] == "TooLarge" and "200,000-byte limit" in body["error"]["message"]
    # streamed without a length: refused once the limit is passed, the rest is never kept
    chunks = (b"\0" * 65536 for _ in range(64))  # 4 MiB
    status, body, _ = server.request("POST", "/v1/analyze", headers={"Content-Type": "image/png"}, chunks=chunks)
    assert status == 413 and body["error"]["type"] == "TooLarge"
    # a multipart file over the limit
    status, body, _ = server.post_file("/v1/analyze", big)
    assert status == 413
    assert server.post_file("/v1/analyze", png(40, 40, 2))[0] == 200


def test_a_crashing_and_a_hanging_file_get_their_own_answers(server):
    status, body, _ = server.post_file("/v1/analyze", png(40, 123, 1), name="crash.png")
    assert status == 500 and body["error"]["type"] == "WorkerCrashed" and "SIGKILL" in body["error"]["message"]
    t0 = time.monotonic()
    status, body, _ = server.post_file("/v1/analyze", png(40, 77, 1), name="hang.png")
    assert status == 504 and body["error"]["type"] == "Timeout" and time.monotonic() - t0 < 30
    status, body, _ = server.post_file("/v1/analyze", png(40, 50, 1), name="fine.png")
    assert status == 200 and body["source"] == "fine.png"


def test_batch_answers_each_file_in_order(server):
    body, ctype = multipart([("file", "a.png", png(40, 50, 1)), ("file", "notes.txt", b"hello"),
                             ("file", "b.png", png(50, 40, 2))])
    status, out, _ = server.request("POST", "/v1/analyze/batch", body=body, headers={"Content-Type": ctype})
    assert status == 200
    r = out["results"]
    assert [x["source"] for x in r] == ["a.png", "notes.txt", "b.png"]
    assert "verdict" in r[0] and "verdict" in r[2] and r[1]["status"] == 415 and r[1]["error"]["type"] == "ImageLoadError"


def test_16_clients_at_once_are_all_answered(server):
    images = {f"c{i}.png": png(40 + i, 48, i) for i in range(16)}

    def one(name):
        return name, server.post_file("/v1/analyze", images[name], name=name)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, images))
    for name, (status, body, _) in answers:
        assert status == 200, body
        assert body["source"] == name and body["sha256"] == hashlib.sha256(images[name]).hexdigest()


def test_a_full_queue_gets_503_with_retry_after():
    with Server(workers=1, queue=1, timeout=4) as s:
        results = {}

        def post(name, data):
            results[name] = s.post_file("/v1/analyze", data, name=name)

        hang = threading.Thread(target=post, args=("hang.png", png(40, 77, 1)))
        hang.start()
        while s.dispatcher.depth < 1 or s.dispatcher.waiting:  # the hanging file is on the worker
            time.sleep(0.05)
        wait = threading.Thread(target=post, args=("wait.png", png(40, 50, 1)))
        wait.start()
        while s.dispatcher.waiting < 1:
            time.sleep(0.05)
        status, body, headers = s.post_file("/v1/analyze", png(40, 60, 1), name="third.png")
        assert status == 503 and body["error"]["type"] == "QueueFull" and int(headers["retry-after"]) >= 1
        hang.join()
        wait.join()
        assert results["hang.png"][0] == 504 and results["wait.png"][0] == 200


def test_access_log_has_one_line_per_request_without_secrets(server, caplog):
    with caplog.at_level(logging.INFO, logger="forensics.serve.access"):
        server.post_file("/v1/analyze?heatmaps=false", png(40, 44, 9), name="secret-name.png")
        server.get("/v1/version", auth=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "forensics.serve.access" and "/v1/health" not in r.getMessage()]
    assert len(lines) == 2
    assert re.search(r'"POST /v1/analyze" 200 in=\d+ out=\d+ [\d.]+ms', lines[0]) and '"GET /v1/version" 401' in lines[1]
    assert not any(TOKEN in x or "secret-name" in x or "heatmaps" in x for x in lines)


def test_the_page_and_the_docs_load_nothing_from_elsewhere(server):
    status, page, headers = server.get("/", auth=False)
    text = page.decode()
    csp = headers["content-security-policy"]
    assert status == 200 and csp.startswith("default-src 'none'") and "connect-src 'self'" in csp
    script = re.search(r"<script>(.*)</script>", text, re.S).group(1)
    assert f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" in csp
    assert not re.search(r"(src|href)=\"(https?:)?//", text) and 'id="token"' in text
    status, docs, headers = server.get("/v1/docs")
    assert status == 200 and "default-src 'none'" in headers["content-security-policy"] and b"<script" not in docs
    status, spec, _ = server.get("/v1/openapi.json")
    assert spec["openapi"].startswith("3.") and "/v1/analyze/batch" in spec["paths"]


def test_corpus_files_get_the_clis_answer(corpus_dir, corpus_labels, capsys):
    """The default engine behind the service answers what `forensics analyze --json` prints."""
    picks = [next(r for r in corpus_labels if r["label"] == label) for label in ("ai", "real")]
    with Server(workers=1, timeout=120, engine_kwargs={}, max_bytes=50_000_000) as s:
        for r in picks:
            path = corpus_dir / r["path"]
            status, body, _ = s.post_file("/v1/analyze", path.read_bytes(), name=path.name)
            assert main(["analyze", "--json", str(path)]) == 0
            cli = json.loads(capsys.readouterr().out)
            assert status == 200 and (body["probability"], body["verdict"]) == (cli["probability"], cli["verdict"])
            assert body["sha256"] == cli["sha256"]


# -- the command ---------------------------------------------------------------------------------
def test_serve_refuses_other_addresses_without_a_token(tmp_path, capsys):
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "--token-file" in capsys.readouterr().err
    short = tmp_path / "t"
    short.write_text("abc\n")
    assert main(["serve", "--token-file", str(short), "--port", "0"]) == 2
    assert "at least 16" in capsys.readouterr().err


def test_forensics_serve_end_to_end(tmp_path):
    """The issue's 'done means', through the installed command with two cheap real signals, at a
    base rate of one in a hundred."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    sample = Path(__file__).resolve().parents[2] / "forensics" / "data" / "sample.jpg"
    proc = subprocess.Popen([sys.executable, "-m", "forensics", "serve", "--port", "0", "--workers", "1",
                             "--token-file", str(token), "--max-bytes", "2000000", "--signals", "dct,exif", "--log-json",
                             "--base-rate", "0.01"],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        first = proc.stderr.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", first).group(1))
        s = Server.__new__(Server)
        s.port, s.token = port, TOKEN
        deadline = time.monotonic() + 120
        while not s.get("/v1/health")[1].get("models_loaded"):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        status, body, _ = s.request("POST", "/v1/analyze", body=sample.read_bytes(), headers={"Content-Type": "image/jpeg"})
        cli = Engine(["dct", "exif"], base_rate=0.01).analyze(str(sample))
        assert status == 200 and body["probability"] == round(cli.probability, 6) and body["verdict"] == cli.verdict
        assert body["base_rate"] == 0.01
        assert s.request("POST", "/v1/analyze", body=b"x", headers={"Content-Type": "image/jpeg"}, auth=False)[0] == 401
        assert s.post_file("/v1/analyze", b"plain text", name="a.txt")[0] == 415
        assert s.request("POST", "/v1/analyze", body=os.urandom(3_000_000), headers={"Content-Type": "image/jpeg"})[0] == 413
        assert s.get("/v1/health")[1]["status"] == "ok"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert [x["status"] for x in lines if x["path"] == "/v1/analyze"] == [200, 401, 415, 413]
    assert TOKEN not in err


# -- the page in a browser: the system Chromium through Playwright ---------------------------------
def test_page_shows_the_apis_verdict(browser, server, tmp_path):
    files = {"red.png": png(60, 80, 1), "blue.png": png(64, 48, 5), "notes.txt": b"not an image", "=1+1.png": png(40, 40, 7)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    page = ctx.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") and "status of 415" not in m.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    base = f"http://127.0.0.1:{server.port}/"
    page.on("request", lambda r: problems.append(f"request {r.url}") if not r.url.startswith((base, "data:", "blob:")) else None)
    try:
        page.goto(base)
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#controls").is_hidden() and page.locator("#results").is_hidden()  # nothing to show yet
        page.fill("#token", TOKEN)
        page.set_input_files("#files", [str(tmp_path / n) for n in files])
        page.wait_for_selector("body[data-done='4']", timeout=60000)
        shown = page.evaluate("""Array.from(document.querySelectorAll('#results tbody tr')).map(tr =>
            ({name: tr.cells[0].textContent, p: tr.cells[1].textContent, verdict: tr.cells[2].textContent}))""")
        by = {r["name"]: r for r in shown}
        for name in ("red.png", "blue.png"):
            api = server.post_file("/v1/analyze", files[name], name=name)[1]
            assert by[name]["p"] == f"{api['probability']:.3f}"
            assert by[name]["verdict"] == {"likely_ai": "likely AI", "likely_real": "likely real"}.get(api["verdict"], api["verdict"])
        assert by["notes.txt"]["verdict"] == "ImageLoadError"
        csv_rows = page.evaluate("window.forensicsPage.csv()").splitlines()
        assert len(csv_rows) == 5 and any(r.startswith("'=1+1.png,") for r in csv_rows)  # never a live formula
        jsonl = [json.loads(x) for x in page.evaluate("window.forensicsPage.jsonl()").splitlines()]
        assert {x["source"] for x in jsonl} == set(files) and sum("error" in x for x in jsonl) == 1
        page.click("#results tbody tr:first-child")
        page.wait_for_selector("#detail:not([hidden])")
        assert page.locator("#detail .contrib .bar").count() >= 1 and page.locator("#detail img.big").count() == 1
        page.screenshot(path=str(tmp_path / "page.png"))
        print(f"screenshots: {tmp_path}")
        page.locator('#detail .hmctl input[type="range"]').first.fill("80")
        page.keyboard.press("Escape")
        assert page.locator("#detail").is_hidden()
        assert problems == [], problems
    finally:
        ctx.close()
