"""Tests for the fake AIC server, talking to it over real HTTP."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from PIL import Image

from fake_aic.server import FakeAIC

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_ID = "aaaaaaaa-0000-0000-0000-000000000001"

RECORDS: list[dict[str, Any]] = [
    {
        "id": 1,
        "title": "Oldest",
        "updated_at": "2020-01-01T00:00:00-05:00",
        "image_id": IMAGE_ID,
    },
    {
        "id": 2,
        "title": "Newest",
        "updated_at": "2024-06-01T12:00:00-05:00",
        "image_id": None,
    },
    # Same instant as id 4 written with another offset: a tie, broken by id descending.
    {
        "id": 3,
        "title": "Tie low id",
        "updated_at": "2022-03-01T12:00:00-06:00",
        "image_id": None,
    },
    {
        "id": 4,
        "title": "Tie high id",
        "updated_at": "2022-03-01T13:00:00-05:00",
        "image_id": None,
    },
    {
        "id": 5,
        "title": "Middle",
        "updated_at": "2021-01-01T00:00:00-05:00",
        "image_id": None,
    },
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "records").mkdir()
    (tmp_path / "images").mkdir()
    for record in RECORDS:
        (tmp_path / "records" / f"{record['id']}.json").write_text(json.dumps(record))
    Image.new("RGB", (400, 300), (200, 30, 30)).save(tmp_path / "images" / f"{IMAGE_ID}.jpg")
    return tmp_path


@pytest.fixture
def fake(data_dir: Path) -> Iterator[FakeAIC]:
    with FakeAIC(data_dir) as server:
        yield server


def get(url: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", 5)
    return requests.get(url, **kwargs)


def test_it_lists_newest_first_and_links_the_next_page(fake: FakeAIC) -> None:
    first = get(f"{fake.api_url}/artworks", params={"limit": 2}).json()
    assert [r["id"] for r in first["data"]] == [2, 4]
    assert first["pagination"]["total"] == 5
    assert first["pagination"]["total_pages"] == 3
    assert first["pagination"]["next_url"] == f"{fake.api_url}/artworks?page=2&limit=2"
    assert "prev_url" not in first["pagination"]
    assert first["config"]["iiif_url"] == fake.iiif_url
    assert "CC-By" in first["info"]["license_text"]

    second = get(first["pagination"]["next_url"]).json()
    assert [r["id"] for r in second["data"]] == [3, 5]
    assert second["pagination"]["offset"] == 2

    last = get(second["pagination"]["next_url"]).json()
    assert [r["id"] for r in last["data"]] == [1]
    assert last["pagination"].get("next_url") is None
    assert last["pagination"]["prev_url"].startswith(fake.api_url)


def test_it_uses_default_limit_of_12(fake: FakeAIC) -> None:
    body = get(f"{fake.api_url}/artworks").json()
    assert body["pagination"]["limit"] == 12
    assert len(body["data"]) == 5


def test_it_keeps_only_requested_fields_plus_id(fake: FakeAIC) -> None:
    body = get(f"{fake.api_url}/artworks", params={"fields": "title,image_id"}).json()
    assert all(set(r) == {"id", "title", "image_id"} for r in body["data"])
    assert (
        "fields=title%2Cimage_id"
        in get(f"{fake.api_url}/artworks", params={"fields": "title,image_id", "limit": 1}).json()["pagination"][
            "next_url"
        ]
    )


def test_it_returns_requested_ids(fake: FakeAIC) -> None:
    body = get(f"{fake.api_url}/artworks", params={"ids": "5,1,999"}).json()
    assert [r["id"] for r in body["data"]] == [5, 1]


def test_it_refuses_limit_over_100(fake: FakeAIC) -> None:
    response = get(f"{fake.api_url}/artworks", params={"limit": 101})
    assert response.status_code == 403
    assert response.json()["error"] == "Invalid limit"
    assert get(f"{fake.api_url}/artworks", params={"limit": 100}).status_code == 200


def test_it_serves_detail_and_404s_unknown_ids(fake: FakeAIC) -> None:
    found = get(f"{fake.api_url}/artworks/5")
    assert found.json()["data"]["title"] == "Middle"
    missing = get(f"{fake.api_url}/artworks/999")
    assert missing.status_code == 404
    assert missing.json() == {
        "status": 404,
        "error": "Not found",
        "detail": "The item you requested cannot be found.",
    }


def test_it_reflects_upserts_and_removals(fake: FakeAIC) -> None:
    fake.upsert_record({"id": 6, "title": "Fresh", "updated_at": "2030-01-01T00:00:00-05:00"})
    fake.remove_record(2)
    ids = [r["id"] for r in get(f"{fake.api_url}/artworks").json()["data"]]
    assert ids[0] == 6
    assert 2 not in ids


def test_it_resizes_iiif_images(fake: FakeAIC) -> None:
    def size_of(size: str) -> tuple[int, int]:
        response = get(f"{fake.iiif_url}/{IMAGE_ID}/full/{size}/0/default.jpg")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        with Image.open(io.BytesIO(response.content)) as img:
            assert img.format == "JPEG"
            return img.size

    assert size_of("200,") == (200, 150)
    assert size_of(",150") == (200, 150)
    assert size_of("!100,100") == (100, 75)
    assert size_of("843,") == (400, 300)  # never upscaled
    assert size_of("full") == (400, 300)


def test_it_describes_and_tiles_iiif_images_for_a_viewer(fake: FakeAIC) -> None:
    info = get(f"{fake.iiif_url}/{IMAGE_ID}/info.json")
    assert info.status_code == 200
    assert info.headers["Access-Control-Allow-Origin"] == "*"
    described = info.json()
    assert described["@id"] == f"{fake.iiif_url}/{IMAGE_ID}"
    assert (described["width"], described["height"]) == (400, 300)
    assert described["tiles"][0]["width"] == 256
    tile = get(f"{fake.iiif_url}/{IMAGE_ID}/256,0,144,256/72,/0/default.jpg")
    assert tile.status_code == 200
    with Image.open(io.BytesIO(tile.content)) as img:
        assert img.size == (72, 128)
    assert get(f"{fake.iiif_url}/{IMAGE_ID}/500,0,10,10/10,/0/default.jpg").status_code == 400
    assert get(f"{fake.iiif_url}/nope/info.json").status_code == 404


def test_it_404s_unknown_images(fake: FakeAIC) -> None:
    response = get(f"{fake.iiif_url}/nope/full/843,/0/default.jpg")
    assert response.status_code == 404


def test_it_serves_raw_image_bytes_unchanged(fake: FakeAIC) -> None:
    fake.set_image_bytes("bad", b"not a jpeg", content_type="text/plain")
    response = get(f"{fake.iiif_url}/bad/full/843,/0/default.jpg")
    assert response.content == b"not a jpeg"
    assert response.headers["Content-Type"] == "text/plain"


def test_it_logs_requests_and_counts_them(fake: FakeAIC) -> None:
    get(f"{fake.api_url}/artworks", params={"page": 2}, headers={"AIC-User-Agent": "t"})
    get(f"{fake.api_url}/artworks/999")
    assert fake.count("/api/v1/artworks") == 2
    first = fake.requests[0]
    assert (first.method, first.path, first.query, first.status) == (
        "GET",
        "/api/v1/artworks",
        {"page": "2"},
        200,
    )
    assert first.headers["AIC-User-Agent"] == "t"
    assert fake.requests[1].status == 404


def test_it_injects_429_with_retry_after_then_recovers(fake: FakeAIC) -> None:
    fake.inject("429", retry_after=7, times=2)
    statuses = [get(f"{fake.api_url}/artworks") for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "7"
    assert statuses[0].json()["status"] == 429


@pytest.mark.parametrize("kind", ["500", "503"])
def test_it_injects_server_errors(fake: FakeAIC, kind: str) -> None:
    fake.inject(kind)
    assert get(f"{fake.api_url}/artworks").status_code == int(kind)
    assert get(f"{fake.api_url}/artworks").status_code == 200


def test_it_injects_a_503_with_retry_after_only_when_asked(fake: FakeAIC) -> None:
    fake.inject("503", path_prefix="/iiif/2/", retry_after=3)
    fake.inject("503", path_prefix="/iiif/2/")
    first = get(f"{fake.iiif_url}/x/full/8,/0/default.jpg")
    second = get(f"{fake.iiif_url}/x/full/8,/0/default.jpg")
    assert (first.status_code, first.headers["Retry-After"]) == (503, "3")
    assert second.status_code == 503 and "Retry-After" not in second.headers


def test_it_only_faults_matching_paths(fake: FakeAIC) -> None:
    fake.inject("500", path_prefix="/api/v1/artworks/")
    assert get(f"{fake.api_url}/artworks").status_code == 200
    assert get(f"{fake.api_url}/artworks/1").status_code == 500


def test_it_injects_a_timeout(fake: FakeAIC) -> None:
    fake.inject("timeout", seconds=2)
    with pytest.raises(requests.Timeout):
        get(f"{fake.api_url}/artworks", timeout=0.2)
    assert get(f"{fake.api_url}/artworks").status_code == 200


def test_it_injects_a_connection_reset(fake: FakeAIC) -> None:
    fake.inject("reset")
    with pytest.raises(requests.ConnectionError):
        get(f"{fake.api_url}/artworks")
    assert fake.requests[-1].status == 0
    assert get(f"{fake.api_url}/artworks").status_code == 200


def test_it_injects_truncated_json(fake: FakeAIC) -> None:
    fake.inject("truncated_json")
    response = get(f"{fake.api_url}/artworks")
    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_it_injects_an_html_error_page(fake: FakeAIC) -> None:
    fake.inject("html")
    response = get(f"{fake.api_url}/artworks")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_it_injects_a_corrupt_image(fake: FakeAIC) -> None:
    whole = get(f"{fake.iiif_url}/{IMAGE_ID}/full/200,/0/default.jpg").content
    fake.inject("corrupt_image", path_prefix="/iiif/2/")
    broken = get(f"{fake.iiif_url}/{IMAGE_ID}/full/200,/0/default.jpg").content
    assert broken == whole[: len(whole) // 2]
    with (
        pytest.raises(OSError, match=r"(?i)truncated"),
        Image.open(io.BytesIO(broken)) as img,
    ):
        img.load()


def test_it_injects_a_malformed_record(fake: FakeAIC) -> None:
    fake.inject("malformed_record", index=1)
    data = get(f"{fake.api_url}/artworks").json()["data"]
    assert data[1]["id"] == "not-a-number"
    assert [r["id"] for r in data if r["id"] != "not-a-number"] == [2, 3, 5, 1]
    fake.inject("malformed_record", value="garbage")
    assert get(f"{fake.api_url}/artworks").json()["data"][0] == "garbage"


def test_it_rejects_unknown_fault_kinds(fake: FakeAIC) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fake.inject("explode")


def test_it_takes_faults_and_latency_over_the_control_endpoint(fake: FakeAIC) -> None:
    created = requests.post(f"{fake.url}/_fake/faults", json={"kind": "503", "times": 2}, timeout=5)
    assert created.status_code == 200
    assert get(f"{fake.api_url}/artworks").status_code == 503
    assert requests.delete(f"{fake.url}/_fake/faults", timeout=5).status_code == 200
    assert get(f"{fake.api_url}/artworks").status_code == 200

    bad = requests.post(f"{fake.url}/_fake/faults", json={"kind": "nope"}, timeout=5)
    assert bad.status_code == 400

    requests.post(f"{fake.url}/_fake/latency", json={"seconds": 0.2}, timeout=5)
    started = time.monotonic()
    get(f"{fake.api_url}/artworks/1")
    assert time.monotonic() - started >= 0.2
    assert fake.latency_s == 0.2


def test_it_takes_records_over_the_control_endpoint(fake: FakeAIC) -> None:
    requests.post(f"{fake.url}/_fake/records", json={"id": 77, "title": "Posted"}, timeout=5)
    assert get(f"{fake.api_url}/artworks/77").json()["data"]["title"] == "Posted"
    requests.delete(f"{fake.url}/_fake/records/77", timeout=5)
    assert get(f"{fake.api_url}/artworks/77").status_code == 404


def test_it_stops_promptly_while_a_timeout_fault_is_pending(data_dir: Path) -> None:
    fake = FakeAIC(data_dir).start()
    fake.inject("timeout", seconds=30)
    with pytest.raises(requests.Timeout):
        get(f"{fake.api_url}/artworks", timeout=0.1)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2


def test_it_runs_from_the_command_line(data_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_aic", "--data", str(data_dir), "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        api_url = proc.stdout.readline().split()[3]
        assert proc.stdout.readline().split()[3] == api_url.replace("/api/v1", "/iiif/2")
        assert get(f"{api_url}/artworks/1").json()["data"]["id"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
    assert proc.returncode == 0


@pytest.mark.skipif(
    not (REPO_ROOT / "sample_data" / "aic" / "records").is_dir(),
    reason="sample not built",
)
def test_it_serves_the_bundled_sample() -> None:
    with FakeAIC(REPO_ROOT / "sample_data" / "aic") as fake:
        record = get(f"{fake.api_url}/artworks/28560").json()["data"]
        assert record["title"] == "The Bedroom"
        image = get(f"{fake.iiif_url}/{record['image_id']}/full/843,/0/default.jpg")
        assert image.status_code == 200
        assert Image.open(io.BytesIO(image.content)).format == "JPEG"
