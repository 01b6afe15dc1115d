"""bench.load, the search benchmark's load generator where wrk is missing, counts answers and errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn answers

    def do_GET(self) -> None:
        status = 200 if self.path == "/api/search?q=sea" else 404
        body = b'{"results": []}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _drive(port: int, *paths: str) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.load", "--port", str(port), "--seconds", "1", "--connections", "2", *paths]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def test_it_counts_the_answers_of_a_second_of_requests(port: int) -> None:
    figures = _drive(port, "/api/search?q=sea")
    assert figures["errors"] == 0
    assert figures["requests"] > 10
    assert figures["requests_per_s"] == pytest.approx(figures["requests"], rel=0.2)
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]


def test_an_answer_other_than_200_is_an_error(port: int) -> None:
    figures = _drive(port, "/api/search?q=sea", "/missing")
    # The paths alternate on each connection: as many errors as answers, give or take one a connection.
    assert figures["errors"] > 0
    assert abs(figures["errors"] - figures["requests"]) <= 2
