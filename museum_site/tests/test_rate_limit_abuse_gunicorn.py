"""A loop of unique searches from one address, against gunicorn as in production (two worker processes
sharing the budget through Redis): pages, searches by image and the API are refused with 429 once the
address has spent its budget, while another address is still answered."""

from __future__ import annotations

import http.client
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE_DIR
from museum_site.tests.processes import ROOT, free_port, wait_for, worker_env

# Starting gunicorn and loading both towers in two workers takes longer than a unit test may.
pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

IMAGE = next(SAMPLE_DIR.joinpath("images").glob("*.jpg")).read_bytes()


class Site:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, source: str, method: str, path: str, body: bytes = b"", content_type: str = "") -> int:
        """The status of one request sent from the loopback address ``source`` (127.0.0.0/8 is all loopback)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(source, 0))
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def page(self, source: str) -> int:
        return self.request(source, "GET", f"/?q=sea+{uuid.uuid4().hex[:8]}")

    def api(self, source: str) -> int:
        return self.request(source, "GET", f"/api/search?q=boats+{uuid.uuid4().hex[:8]}")

    def image(self, source: str) -> int:
        boundary = "museum-test-boundary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + IMAGE
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request(source, "POST", "/api/search/image", body, f"multipart/form-data; boundary={boundary}")


@pytest.fixture
def site(test_database_url: str, embedding_model: Any, redis_client: Any, tmp_path: Path) -> Iterator[Site]:
    for key in redis_client.scan_iter("ratelimit:requests:*"):
        redis_client.delete(key)
    port = free_port()
    env = worker_env(
        DATABASE_URL=test_database_url,
        RATE_LIMIT_BUDGET="50",
        RATE_LIMIT_WINDOW_SECONDS="300",
        RATE_LIMIT_COST_SEARCH="10",
        RATE_LIMIT_COST_CACHED="1",
        RATE_LIMIT_COST_IMAGE="20",
        LOG_LEVEL="WARNING",
    )
    log = (tmp_path / "gunicorn.log").open("ab")
    command = [sys.executable, "-m", "gunicorn", "museum_site.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", "2", "--threads", "4", "--timeout", "60"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    site = Site(port)

    def ready() -> bool:
        try:
            return site.request("127.0.0.9", "GET", "/api/docs") == 200
        except OSError:
            return False

    try:
        wait_for(ready, 60, "gunicorn answering", interval=0.2)
        yield site
    finally:
        process.terminate()
        process.wait(30)


def test_one_address_looping_unique_searches_is_refused_and_another_is_answered(site: Site) -> None:
    # Each fresh page search costs 10 of 50: five are answered, then the address is refused.
    burst = [site.page("127.0.0.1") for _ in range(8)]
    assert burst[:5] == [200] * 5 and burst[5:] == [429] * 3, burst
    assert site.api("127.0.0.1") == 429
    assert site.image("127.0.0.1") == 429
    # Another address has its own budget: a page (10), then image searches at 20 each.
    assert site.page("127.0.0.2") == 200
    assert [site.image("127.0.0.2") for _ in range(3)] == [200, 200, 429]
    # And another: API searches after one by image (20), at 10 each.
    assert site.image("127.0.0.3") == 200
    assert [site.api("127.0.0.3") for _ in range(4)] == [200, 200, 200, 429]
