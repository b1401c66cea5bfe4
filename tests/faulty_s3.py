"""A fault-injecting HTTP layer in front of the moto server, on 127.0.0.1: it forwards every request to the
server unless a fault is due, then answers as S3 does when it throttles (503 SlowDown) or stalls past the client's
read timeout. Faults are counted per request (method and path), so a retried request meets its own faults again
until they are used up."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
FOREVER = 10**9


@dataclass
class Faults:
    """How many times each request is throttled, then stalled for ``stall_s``, before it reaches the server."""

    throttle: int = 0
    stall: int = 0
    stall_s: float = 0.0
    seen: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    stalled: int = 0
    forwarded: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self, request: str) -> str | None:
        """The fault this attempt of ``request`` meets: "throttle", "stall" or None (forward it)."""
        with self.lock:
            attempt = self.seen[request]
            self.seen[request] += 1
            if attempt < self.throttle:
                self.throttled += 1
                return "throttle"
            if attempt < self.throttle + self.stall:
                self.stalled += 1
                return "stall"
            self.forwarded += 1
            return None


@contextmanager
def faulty_endpoint(upstream: str, faults: Faults) -> Iterator[str]:
    """An endpoint URL that reaches ``upstream`` (the moto server) through ``faults``."""
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = faults.due(f"{self.command} {self.path}")
            if fault == "stall":
                time.sleep(faults.stall_s)
            if fault == "throttle":
                self._answer(503, {"Content-Type": "application/xml"}, SLOW_DOWN)
                return
            connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in {"transfer-encoding", "connection"}}
                self._answer(response.status, kept, payload)
            finally:
                connection.close()

        def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            try:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a stall)
                pass

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that gave up on a stalled answer closed its socket: expected here

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
