"""``forensics serve``: the engine as a local HTTP service and a web page (see docs/serve.md).

:mod:`.work` runs the analyses in the scan's worker processes behind a bounded queue (no web
framework imported there); :mod:`.app` is the Starlette application; :mod:`.page` the page at
``/``, the OpenAPI schema and its offline docs page.
"""
