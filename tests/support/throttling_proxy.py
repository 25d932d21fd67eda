"""A loopback proxy in front of moto that answers IAM requests with ``Throttling`` errors (or
``AccessDenied``, for actions moto only refuses with its whole permission enforcement on, which
the proxy's re-signed requests do not pass), or drops them as an endpoint gone down would.

moto never throttles and cannot be stopped and started again on the same port mid-run; this proxy
sends real HTTP 400 ``Throttling`` responses, or resets the connection, so that botocore's own
retry machinery (standard/adaptive modes) and then Airflow's task retries are what get exercised.
"""

from __future__ import annotations

import socket
import struct
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

THROTTLED = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
    b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
    b"</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)
ACCESS_DENIED = THROTTLED.replace(b"Throttling", b"AccessDenied").replace(
    b"Rate exceeded", b"User is not authorized to perform this action"
)


class ThrottlingProxy:
    """Throttles the next ``budget[action]`` requests of each action, forwards the rest to moto."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.budget: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.dropped = 0
        self._outage: tuple[str, int] | None = None  # (action, after how many of them)
        self._down_for: int | None = None  # requests still to drop; None: until restore()
        self._down = False
        self._rewrites: dict[str, Callable[[bytes], bytes]] = {}
        self._refused: set[str] = set()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def throttle(self, action: str, times: int) -> None:
        with self._lock:
            self.budget[action] += times

    def go_down_after(self, action: str, count: int, *, requests: int | None = None) -> None:
        """Once ``count`` requests of ``action`` were answered, reset every connection (the
        ``count + 1``-th included): ``requests`` of them, or all until :meth:`restore`."""
        with self._lock:
            self._outage, self._down_for = (action, count), requests

    def rewrite(self, action: str, edit: Callable[[bytes], bytes]) -> None:
        """Pass moto's answers to ``action`` through ``edit`` (fields AWS may add or leave out)."""
        with self._lock:
            self._rewrites[action] = edit

    def refuse(self, action: str) -> None:
        """Answer every request of ``action`` with HTTP 403 ``AccessDenied``."""
        with self._lock:
            self._refused.add(action)

    def restore(self) -> None:
        with self._lock:
            self._outage, self._down = None, False

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = parse_qs(body.decode()).get("Action", ["?"])[0]
                with proxy._lock:
                    proxy.seen[action] += 1
                    if proxy._outage and proxy._outage == (action, proxy.seen[action] - 1):
                        proxy._down = True
                    drop = proxy._down
                    if drop:
                        proxy.dropped += 1
                        if proxy._down_for is not None:
                            proxy._down_for -= 1
                            if proxy._down_for == 0:
                                proxy._outage, proxy._down = None, False
                if drop:
                    return self._reset()
                with proxy._lock:
                    throttle = proxy.budget[action] > 0
                    if throttle:
                        proxy.budget[action] -= 1
                        proxy.throttled[action] += 1
                if throttle:
                    return self._reply(400, THROTTLED, "text/xml")
                if action in proxy._refused:
                    return self._reply(403, ACCESS_DENIED, "text/xml")
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, payload, headers = (
                            response.status,
                            response.read(),
                            response.headers,
                        )
                except urllib.error.HTTPError as error:  # IAM errors (e.g. NoSuchEntity) pass on
                    status, payload, headers = error.code, error.read(), error.headers
                else:
                    if edit := proxy._rewrites.get(action):
                        payload = edit(payload)
                self._reply(status, payload, headers.get("Content-Type", "text/xml"))

            def _reply(self, status, payload, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _reset(self):
                # SO_LINGER 0: close() sends RST, as a server process killed mid-request would.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            def log_message(self, *args):
                pass

        return Handler
