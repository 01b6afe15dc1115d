"""A real HTTP server that replays AIC artwork records and IIIF images.

It speaks enough of ``https://api.artic.edu/api/v1`` and ``https://www.artic.edu/iiif/2``
for the project's harvester, and can inject the failures a real network produces.
"""

from __future__ import annotations

import io
import json
import socket
import socketserver
import struct
import sys
import threading
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from math import ceil
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

from PIL import Image, ImageOps

if TYPE_CHECKING:
    from types import TracebackType

Record = dict[str, Any]

FAULT_KINDS = frozenset(
    {
        "429",
        "500",
        "503",
        "timeout",
        "reset",
        "truncated_json",
        "html",
        "corrupt_image",
        "malformed_record",
    }
)
DEFAULT_LIMIT = 12
MAX_LIMIT = 100
CONTROL_PREFIX = "/_fake/"
API_PREFIX = "/api/v1"
IIIF_PREFIX = "/iiif/2"
# Small tiles, so that a sample image (448 px at most) is served as several, as a deep-zoom viewer asks.
IIIF_TILE_SIZE = 256
# AIC's image server lets any page read its images and descriptions (a viewer fetches info.json).
IIIF_CORS = {"Access-Control-Allow-Origin": "*"}

INFO: dict[str, Any] = {
    "license_text": (
        "The `description` field in this response is licensed under a Creative "
        "Commons Attribution 4.0 Generic License (CC-By) and the Terms and Conditions "
        "of artic.edu. All other data in this response is licensed under a Creative "
        "Commons Zero (CC0) 1.0 designation and the Terms and Conditions of artic.edu."
    ),
    "license_links": [
        "https://creativecommons.org/publicdomain/zero/1.0/",
        "https://www.artic.edu/terms",
    ],
    "version": "1.14",
}
NOT_FOUND: dict[str, Any] = {
    "status": 404,
    "error": "Not found",
    "detail": "The item you requested cannot be found.",
}
INVALID_LIMIT: dict[str, Any] = {
    "status": 403,
    "error": "Invalid limit",
    "detail": ("You have requested too many resources per page. Please set a smaller limit."),
}
HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><h1>502 Bad Gateway</h1><p>The upstream server is temporarily unavailable."
    "</p><hr><center>nginx</center></body></html>\n"
)
# Oldest possible sort key, so records without a usable updated_at sort last.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RequestRecord(NamedTuple):
    """One request the server answered (status 0: the connection was reset)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


@dataclass
class _Fault:
    kind: str
    path_prefix: str
    remaining: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Image:
    data: bytes
    content_type: str
    raw: bool  # raw bytes are served as-is, never decoded or resized


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return _Response(status, body, "application/json", dict(headers or {}))


def _updated_key(record: Record) -> tuple[datetime, int]:
    """Sort key: updated_at (offset-aware), then id; invalid values sort oldest."""
    value = record.get("updated_at")
    when = _EPOCH
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            when = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    rid = record.get("id")
    return when, rid if isinstance(rid, int) else 0


def _select_fields(record: Record, fields: list[str] | None) -> Record:
    if not fields:
        return record
    wanted = ["id", *[f for f in fields if f != "id"]]
    return {key: record[key] for key in wanted if key in record}


def _crop(img: Image.Image, region: str) -> Image.Image | None:
    """Apply a IIIF region parameter (``full`` or ``x,y,w,h`` in pixels); None if not supported."""
    if region == "full":
        return img
    try:
        x, y, w, h = (int(v) for v in region.split(","))
    except ValueError:
        return None
    width, height = img.size
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x >= width or y >= height:
        return None
    return img.crop((x, y, min(x + w, width), min(y + h, height)))


def _resize(data: bytes, size: str, region: str = "full") -> bytes | None:
    """Apply IIIF region and size parameters; None if a parameter is not supported."""
    with Image.open(io.BytesIO(data)) as opened:
        cropped = _crop(ImageOps.exif_transpose(opened).convert("RGB"), region)
    if cropped is None:
        return None
    img = cropped
    width, height = img.size
    try:
        if size in ("full", "max"):
            target = (width, height)
        elif size.startswith("!"):
            box_w, box_h = (int(v) for v in size[1:].split(","))
            scale = min(box_w / width, box_h / height, 1.0)
            target = (max(1, round(width * scale)), max(1, round(height * scale)))
        elif size.endswith(","):
            new_w = min(int(size[:-1]), width)
            target = (new_w, max(1, round(height * new_w / width)))
        elif size.startswith(","):
            new_h = min(int(size[1:]), height)
            target = (max(1, round(width * new_h / height)), new_h)
        elif "," in size:
            target = tuple(int(v) for v in size.split(","))  # type: ignore[assignment]
        else:
            return None
    except ValueError:
        return None
    if target[0] <= 0 or target[1] <= 0:
        return None
    if target != (width, height):
        img = img.resize(target, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck handler (timeout fault) must not block stop()
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeAIC) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can
        # stall for seconds on an offline machine; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up mid-response are expected here; stay quiet.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, like the real API, so connection pooling is exercised.
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = dict(self.headers.items())
        body = self._read_body()

        if path.startswith(CONTROL_PREFIX):
            response = fake._control(self.command, path, body)
            fake._record(RequestRecord(self.command, path, query, headers, response.status))
            self._send(response)
            return

        fault = fake._take_fault(path)
        if fault is not None and fault.kind == "reset":
            fake._record(RequestRecord(self.command, path, query, headers, 0))
            fake._sleep(fake.latency_s)
            self._reset()
            return

        if fault is not None and fault.kind in ("429", "500", "503", "html"):
            response = _fault_response(fault)
        else:
            try:
                response = fake._route(self.command, path, query, split.query)
            except Exception:
                traceback.print_exc()
                error = {"status": 500, "error": "Internal Server Error"}
                response = _json_response(500, error)
            if fault is not None:
                response = _damage(response, fault)

        fake._record(RequestRecord(self.command, path, query, headers, response.status))
        fake._sleep(fake.latency_s)
        if fault is not None and fault.kind == "timeout":
            fake._sleep(float(fault.options.get("seconds", 5)))
        self._send(response)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: _Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            # Always the length of the bytes actually sent: a truncated body must
            # reach the client as bad JSON/JPEG, not as a broken connection.
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send RST, the way a dropped connection looks.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


def _fault_response(fault: _Fault) -> _Response:
    if fault.kind == "429":
        retry_after = str(fault.options.get("retry_after", 1))
        payload = {
            "status": 429,
            "error": "Too Many Requests",
            "detail": "Rate limit exceeded.",
        }
        return _json_response(429, payload, {"Retry-After": retry_after})
    if fault.kind == "html":
        return _Response(200, HTML_ERROR_PAGE.encode("utf-8"), "text/html; charset=UTF-8")
    status = int(fault.kind)
    error = "Internal Server Error" if status == 500 else "Service Unavailable"
    # A server going down for maintenance says when to come back; a crashing one says nothing.
    headers = {"Retry-After": str(fault.options["retry_after"])} if "retry_after" in fault.options else {}
    return _json_response(status, {"status": status, "error": error, "detail": error}, headers)


def _damage(response: _Response, fault: _Fault) -> _Response:
    """Apply a fault that keeps status 200 but breaks the body."""
    if fault.kind in ("truncated_json", "corrupt_image"):
        return _Response(
            response.status,
            response.body[: len(response.body) // 2],
            response.content_type,
            response.headers,
        )
    if fault.kind == "malformed_record" and response.content_type == "application/json":
        payload = json.loads(response.body)
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, list) and data:
            index = int(fault.options.get("index", 0)) % len(data)
            data[index] = fault.options.get("value", {**data[index], "id": "not-a-number"})
        elif isinstance(data, dict):
            payload["data"] = fault.options.get("value", {**data, "id": "not-a-number"})
        return _json_response(response.status, payload, response.headers)
    return response  # "timeout" answers normally, only late


class FakeAIC:
    """Serve ``data_dir/records/*.json`` and ``data_dir/images/*.jpg`` over HTTP.

    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, data_dir: Path | str, host: str = "127.0.0.1", port: int = 0) -> None:
        data = Path(data_dir)
        self.records: dict[int, Record] = {}
        for path in sorted((data / "records").glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            self.records[int(record["id"])] = record
        self._images: dict[str, _Image] = {
            path.stem: _Image(path.read_bytes(), "image/jpeg", raw=False)
            for path in sorted((data / "images").glob("*.jpg"))
        }
        self.latency_s: float = 0.0
        self.requests: list[RequestRecord] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        bound_host, bound_port = self._server.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def iiif_url(self) -> str:
        return self.url + IIIF_PREFIX

    def start(self) -> Self:
        """Serve in a background daemon thread; returns self."""
        if self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"FakeAIC:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; wakes handlers sleeping on faults."""
        self._stopped.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- data ----------------------------------------------------------------------

    def upsert_record(self, record: Record) -> None:
        """Add or replace a record (keyed by its ``id``)."""
        with self._lock:
            self.records[int(record["id"])] = record

    def remove_record(self, artwork_id: int) -> None:
        with self._lock:
            self.records.pop(artwork_id, None)

    def set_image_bytes(self, image_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Serve these exact bytes for ``image_id`` at any size (bad-image tests)."""
        with self._lock:
            self._images[image_id] = _Image(data, content_type, raw=True)

    # -- faults --------------------------------------------------------------------

    def inject(self, kind: str, path_prefix: str = "/api/v1/", times: int = 1, **options: Any) -> None:
        """Fault the next ``times`` requests whose path starts with ``path_prefix``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(_Fault(kind, path_prefix, times, dict(options)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- request log ---------------------------------------------------------------

    def count(self, path_prefix: str) -> int:
        """How many requests with a path starting with ``path_prefix`` were served."""
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    # -- internals used by the handler ---------------------------------------------

    def _record(self, entry: RequestRecord) -> None:
        with self._lock:
            self.requests.append(entry)

    def _sleep(self, seconds: float) -> None:
        # An Event wait, not time.sleep, so stop() cuts delays short.
        if seconds > 0:
            self._stopped.wait(seconds)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _snapshot(self) -> list[Record]:
        with self._lock:
            return list(self.records.values())

    def _envelope(self) -> dict[str, Any]:
        return {
            "info": INFO,
            "config": {
                "iiif_url": self.iiif_url,
                "website_url": "http://www.artic.edu",
            },
        }

    def _route(self, method: str, path: str, query: dict[str, str], raw_query: str) -> _Response:
        if method != "GET":
            return _json_response(405, {"status": 405, "error": "Method not allowed"})
        if path.rstrip("/") == API_PREFIX + "/artworks":
            return self._listing(query, raw_query)
        if path.startswith(API_PREFIX + "/artworks/"):
            return self._detail(path.removeprefix(API_PREFIX + "/artworks/"), query)
        if path.startswith(IIIF_PREFIX + "/"):
            return self._iiif(path.removeprefix(IIIF_PREFIX + "/"))
        return _json_response(404, NOT_FOUND)

    def _listing(self, query: dict[str, str], raw_query: str) -> _Response:
        try:
            page = max(1, int(query.get("page", 1)))
            limit = int(query.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return _json_response(400, {"status": 400, "error": "Invalid parameter"})
        if limit > MAX_LIMIT or limit < 0:
            return _json_response(403, INVALID_LIMIT)
        fields = _split_list(query.get("fields"))
        records = self._snapshot()
        if "ids" in query:
            # Like the real API, `ids` returns those records in the order asked for.
            by_id = {r.get("id"): r for r in records}
            wanted = [_int_or_none(v) for v in _split_list(query["ids"]) or []]
            records = [by_id[i] for i in wanted if i in by_id]
        else:
            records.sort(key=_updated_key, reverse=True)
        total = len(records)
        offset = (page - 1) * limit
        total_pages = ceil(total / limit) if limit else 0
        pagination: dict[str, Any] = {
            "total": total,
            "limit": limit,
            "offset": offset,
            "total_pages": total_pages,
            "current_page": page,
        }
        if page > 1:
            pagination["prev_url"] = self._page_url(page - 1, raw_query)
        if page < total_pages:
            pagination["next_url"] = self._page_url(page + 1, raw_query)
        data = [_select_fields(r, fields) for r in records[offset : offset + limit]]
        return _json_response(200, {"pagination": pagination, "data": data, **self._envelope()})

    def _page_url(self, page: int, raw_query: str) -> str:
        # The real API puts `page` first and keeps the other parameters as sent.
        rest = [(k, v) for k, v in parse_qsl(raw_query, keep_blank_values=True) if k != "page"]
        return f"{self.api_url}/artworks?{urlencode([('page', str(page)), *rest])}"

    def _detail(self, raw_id: str, query: dict[str, str]) -> _Response:
        artwork_id = _int_or_none(raw_id.strip("/"))
        with self._lock:
            record = self.records.get(artwork_id) if artwork_id is not None else None
        if record is None:
            return _json_response(404, NOT_FOUND)
        data = _select_fields(record, _split_list(query.get("fields")))
        return _json_response(200, {"data": data, **self._envelope()})

    def _iiif(self, rest: str) -> _Response:
        parts = rest.split("/")
        if len(parts) == 2 and parts[1] == "info.json":
            return self._iiif_info(parts[0])
        if len(parts) != 5:
            return _json_response(400, {"status": 400, "error": "Invalid IIIF request"})
        image_id, region, size, rotation, filename = parts
        with self._lock:
            image = self._images.get(image_id)
        if image is None:
            return _json_response(404, NOT_FOUND)
        if image.raw:
            return _Response(200, image.data, image.content_type)
        if rotation != "0" or filename != "default.jpg":
            return _json_response(400, {"status": 400, "error": "Unsupported IIIF request"})
        resized = _resize(image.data, size, region)
        if resized is None:
            return _json_response(400, {"status": 400, "error": f"Unsupported region {region!r} or size {size!r}"})
        return _Response(200, resized, "image/jpeg", dict(IIIF_CORS))

    def _iiif_info(self, image_id: str) -> _Response:
        """The IIIF Image API 2 description of an image, tiled as AIC tiles them, readable cross-origin."""
        with self._lock:
            image = self._images.get(image_id)
        if image is None or image.raw:
            return _json_response(404, NOT_FOUND)
        with Image.open(io.BytesIO(image.data)) as opened:
            width, height = ImageOps.exif_transpose(opened).size
        info = {
            "@context": "http://iiif.io/api/image/2/context.json",
            "@id": f"{self.iiif_url}/{image_id}",
            "protocol": "http://iiif.io/api/image",
            "width": width,
            "height": height,
            "tiles": [{"width": IIIF_TILE_SIZE, "scaleFactors": [1, 2, 4, 8]}],
            "profile": ["http://iiif.io/api/image/2/level2.json"],
        }
        return _json_response(200, info, IIIF_CORS)

    def _control(self, method: str, path: str, body: bytes) -> _Response:
        """Faults, latency and records for a server running in another process."""
        try:
            payload: Any = json.loads(body) if body else {}
        except ValueError:
            return _json_response(400, {"status": 400, "error": "Body must be JSON"})
        try:
            if path == "/_fake/faults" and method == "POST":
                options = dict(payload)
                kind = str(options.pop("kind"))
                prefix = str(options.pop("path_prefix", "/api/v1/"))
                times = int(options.pop("times", 1))
                self.inject(kind, prefix, times, **options)
            elif path == "/_fake/faults" and method == "DELETE":
                self.clear_faults()
            elif path == "/_fake/latency" and method == "POST":
                self.latency_s = float(payload["seconds"])
            elif path == "/_fake/records" and method == "POST":
                self.upsert_record(dict(payload))
            elif path.startswith("/_fake/records/") and method == "DELETE":
                self.remove_record(int(path.removeprefix("/_fake/records/")))
            else:
                return _json_response(404, NOT_FOUND)
        except (KeyError, TypeError, ValueError) as exc:
            return _json_response(400, {"status": 400, "error": "Bad control request", "detail": str(exc)})
        return _json_response(200, {"ok": True})


def _split_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
