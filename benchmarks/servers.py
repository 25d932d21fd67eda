"""The bench's IAM: moto's server in this process (so the seeding shares its backend), a count of
the requests it serves by action, and a reverse proxy that adds a fixed latency in front of it."""

from __future__ import annotations

import functools
import http.client
import io
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def _action(body: bytes) -> str:
    """The IAM action of a query-protocol request body (``Action=ListUsers&Version=…``)."""
    return parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]


class RequestCounter:
    """Thread-safe count of requests by IAM action; ``take()`` returns and resets it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, action: str) -> None:
        with self._lock:
            self._counts[action] += 1

    def take(self) -> Counter[str]:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts


def _memoise_moto_dispatch() -> None:
    """moto re-lists its package directory (~180 stat calls) and re-inspects the response class on
    every request; both results are constant. Caching them cuts moto's per-request time by ~30 %
    without changing any response (server side only: the client's work and call counts are not
    affected)."""
    import moto.backends
    import moto.core.responses
    import moto.core.utils

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        moto.core.utils.method_names_from_class
    )


def start_moto() -> tuple[object, str, RequestCounter]:
    """moto's IAM server on 127.0.0.1 (AWS managed policies loaded), counting requests by action."""
    from devtools.local import start_iam_server

    _memoise_moto_dispatch()
    server, endpoint = start_iam_server()
    counter = RequestCounter()
    wsgi = server._server  # werkzeug's BaseWSGIServer; its handler calls ``self.server.app``
    inner = wsgi.app

    def counting_app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if environ.get("REQUEST_METHOD") == "POST" and not environ.get("PATH_INFO", "").startswith(
            "/moto-api"
        ):
            # JSON-protocol services (Organizations) name the action in X-Amz-Target.
            target = environ.get("HTTP_X_AMZ_TARGET")
            counter.add(target.rsplit(".", 1)[-1] if target else _action(body))
        return inner(environ, start_response)

    wsgi.app = counting_app
    return server, endpoint, counter


class LatencyProxy:
    """Reverse proxy on 127.0.0.1 that waits ``delay`` seconds, then forwards to ``upstream``.

    It speaks HTTP/1.1 keep-alive to the client (as IAM does), so the delay is the only cost it adds
    besides a loopback hop. Requests are counted by action (a server-level count)."""

    def __init__(self, upstream: str, delay: float) -> None:
        self.delay = delay
        self.counter = RequestCounter()
        up = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
            # and the client's delayed ACK would add ~40 ms to every response.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # one line per request otherwise
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.counter.add(_action(body))
                time.sleep(proxy.delay)
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("connection", "keep-alive")
                    }
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in (
                        "connection",
                        "keep-alive",
                        "transfer-encoding",
                        "content-length",
                        "server",
                        "date",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
