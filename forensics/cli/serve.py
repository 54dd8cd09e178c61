"""``forensics serve``: the engine as a local HTTP service and web page (see docs/serve.md)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
import sys
from typing import Any

from .common import EXIT_OK, EXIT_USAGE, add_engine_options, engine, signal_list

DEFAULT_PORT = 8787
DEFAULT_MAX_BYTES = 50_000_000
DEFAULT_TIMEOUT = 60.0
DEFAULT_QUEUE = 64


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve", help="serve the engine over HTTP on this machine, with a web page",
        description="A local HTTP service (API under /v1, a web page at /) running the analyses in worker "
                    "processes. Binds to 127.0.0.1 by default; any other address needs --token-file. "
                    "Needs the serve extra: pip install 'forensics[serve]'. See docs/serve.md. "
                    "Exit codes: 0 stopped, 2 usage error (bad option, missing extra, non-loopback without a token).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), metavar="N",
                   help="worker processes, each with its own models (default: cores, at most 4)")
    p.add_argument("--token-file", metavar="FILE", help="file holding the bearer token every /v1 route but /v1/health needs")
    p.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="B",
                   help=f"largest file accepted, in bytes (default {DEFAULT_MAX_BYTES:,}); larger ones get 413")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds allowed per file before its worker is stopped and replaced (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--queue", type=int, default=DEFAULT_QUEUE, metavar="N",
                   help=f"files that may wait for a worker; more get 503 with Retry-After (default {DEFAULT_QUEUE})")
    p.add_argument("--log-json", action="store_true", help="access log as JSON lines on stderr")
    add_engine_options(p)
    p.set_defaults(func=cmd_serve)


def _usage(msg: str) -> int:
    print(f"forensics serve: {msg}", file=sys.stderr)
    return EXIT_USAGE


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    """The token in ``path`` (surrounding white space dropped); at least 16 characters."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read(4096).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--token-file {path}: cannot read it ({exc})") from None
    if len(token) < 16 or any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError(f"--token-file {path}: expected one token of at least 16 printable characters without spaces, "
                         "e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return token


def cmd_serve(args: argparse.Namespace) -> int:
    for name, value, low in (("--workers", args.workers, 1), ("--max-bytes", args.max_bytes, 1), ("--queue", args.queue, 1)):
        if value < low:
            return _usage(f"{name} must be {low} or more, got {value}")
    if not 0 <= args.port <= 65535:
        return _usage(f"--port must be 0 to 65535, got {args.port}")
    token = None
    if args.token_file:
        try:
            token = read_token(args.token_file)
        except ValueError as exc:
            return _usage(str(exc))
    elif not is_loopback(args.host):
        return _usage(f"--host {args.host} is reachable from other machines; give --token-file so that only holders "
                      "of the token can use it (or bind to 127.0.0.1)")
    try:
        import uvicorn

        from forensics.serve.app import AccessLog, Settings, create_app
        from forensics.serve.work import Dispatcher
    except ImportError as exc:
        return _usage(f"needs the serve extra ({exc.name} is missing): pip install 'forensics[serve]'")
    eng = engine(args)  # loads the fusion/calibration files now: a bad one is a usage error
    eng.signals_  # an unknown signal name fails here, not in every worker
    engine_kwargs = dict(signals=signal_list(args.signals), fusion=eng.fusion, calibration=eng.calibration,
                         max_pixels=args.max_pixels, base_rate=args.base_rate)
    timeout = args.timeout if args.timeout > 0 else None
    dispatcher = Dispatcher(engine_kwargs, workers=args.workers, timeout=timeout, queue=args.queue)
    app = AccessLog(create_app(dispatcher, Settings(token=token, max_bytes=args.max_bytes, timeout=timeout)),
                    json_lines=args.log_json)
    access = logging.getLogger("forensics.serve.access")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if args.log_json else "%(asctime)s %(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host.strip("[]"), args.port))
        sock.listen(2048)  # connections wait in the backlog until the service starts, none is refused
    except OSError as exc:
        sock.close()
        return _usage(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc})")
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"forensics serve: listening on http://{shown}:{port}/ ({args.workers} worker(s), "
          f"{'token required' if token else 'no token: loopback only'}); Ctrl-C stops", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5,
                            server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn has shut down cleanly, then passes Ctrl-C on
        pass
    print("forensics serve: stopped", file=sys.stderr)
    return EXIT_OK
