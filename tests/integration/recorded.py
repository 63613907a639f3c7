"""A portal over HTTP answering recorded bodies: what the integration tests put in place of a real
portal outside the platform (data.stats.gov.cn, a provincial app-key portal) to serve the answers it
was recorded giving."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class RecordedPortal:
    """A portal over HTTP answering recorded bodies: ``answer(method, path, params)`` gives
    (status, body) for each request; every request is kept in ``requests`` (method, path, params)."""

    def __init__(self, answer: Callable[[str, str, dict], tuple[int, bytes]]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, params: dict) -> None:
                path = urlsplit(self.path).path
                outer.requests.append((self.command, path, params))
                status, body = outer.answer(self.command, path, params)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 -- http.server's name
                self._serve({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                self._serve({k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def data_requests(self, path_end: str) -> int:
        return sum(path.endswith(path_end) for _, path, _ in self.requests)

    def close(self) -> None:
        self.server.shutdown()
