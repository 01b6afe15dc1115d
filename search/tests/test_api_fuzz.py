"""Fuzz every endpoint of the OpenAPI schema (/api/schema) and every page: more than 1,000 requests of
valid, odd and hostile input, and never a 5xx.

Parameters are drawn from each operation's declared schema (in range and out of it), mixed with junk:
SQL and HTML payloads, NUL and control characters, right-to-left text, emoji, huge numbers, unknown
parameters, and uploads that are not what they claim."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from catalog.models import Artwork
from museum_site.tests import hostile_images

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "'; DROP TABLE catalog_artwork; --",
    '" OR 1=1 --',
    "1) OR (1=1",
    "%' AND pg_sleep(5) --",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "../../../../etc/passwd",
    "\x00",
    "a\x00b",
    "\u202e\u0644\u0648\u062d\u0629",
    "🌊" * 200,
    "é" * 301,
    "NaN",
    "Infinity",
    "-0",
    "1e309",
    "9" * 40,
    "",
    " ",
    "null",
    "true",
    "[]",
    "{}",
]
JUNK = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(max_size=320),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.binary(max_size=40).map(lambda data: data.decode("latin-1")),
)
FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=True,  # the same cases on every run, so a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    return schema


def value_strategy(
    schema: dict[str, Any], components: dict[str, Any], junk: bool
) -> st.SearchStrategy[str | list[str]]:
    """Values for one parameter: what its schema allows (and its edges), plus junk when ``junk``."""
    schema = _resolve(schema, components)
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        return st.one_of([value_strategy(option, components, junk) for option in options])
    kind = schema.get("type")
    if "enum" in schema:
        valid: st.SearchStrategy[Any] = st.sampled_from([str(value) for value in schema["enum"]])
    elif kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        valid = st.integers(low, high).map(str)
        if junk:
            edges = [str(edge + delta) for edge in (low, high) if edge is not None for delta in (-1, 1)]
            valid = st.one_of(valid, st.sampled_from(edges or ["-1"]), st.integers().map(str))
    elif kind == "number":
        valid = st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False).map(str)
    elif kind == "boolean":
        valid = st.sampled_from(["true", "false", "1", "0"])
    elif kind == "array":
        return st.lists(value_strategy(schema.get("items", {}), components, junk), max_size=4)
    else:
        length = schema.get("maxLength", 300)
        valid = st.text(min_size=1, max_size=length)
        if junk:
            valid = st.one_of(valid, st.text(min_size=length, max_size=length + 2))
    return st.one_of(valid, JUNK) if junk else valid


def query_strategy(
    parameters: list[dict[str, Any]], components: dict[str, Any]
) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Query parameters: all valid (so a request reaches the deepest code), or mixed with junk and
    unknown parameters."""

    def declared(junk: bool) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                parameter["name"]: st.one_of(st.none(), value_strategy(parameter.get("schema", {}), components, junk))
                for parameter in parameters
                if parameter["in"] == "query"
            }
        )

    def pairs(values: dict[str, Any], unknown: list[tuple[str, str]]) -> list[tuple[str, str]]:
        result: list[tuple[str, str]] = []
        for name, value in values.items():
            if isinstance(value, list):
                result.extend((name, item) for item in value)
            elif value is not None:
                result.append((name, value))
        return result + unknown

    valid = st.builds(pairs, declared(False), st.just([]))
    mixed = st.builds(pairs, declared(True), st.lists(st.tuples(st.text(max_size=12), JUNK), max_size=2))
    return st.one_of(valid, mixed)


def _encode(pairs: list[tuple[str, str]]) -> str:
    # surrogatepass: a lone surrogate still reaches the server, percent-encoded as its raw bytes.
    return urlencode(
        [(key.encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass")) for key, value in pairs]
    )


def _image(kind: str) -> bytes:
    if kind == "bomb":
        return hostile_images.decompression_bomb_png()
    mode = {"GIF": "P", "BMP": "RGB", "TIFF": "CMYK", "ICO": "RGBA", "PNG": "I;16"}.get(kind, "RGB")
    return hostile_images.encode(Image.new(mode, (24, 16)), kind)


IMAGES = {kind: _image(kind) for kind in ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "ICO", "bomb"]}
UPLOADS = st.one_of(
    st.sampled_from(sorted(IMAGES)).map(IMAGES.__getitem__),
    st.sampled_from(sorted(IMAGES)).flatmap(
        lambda kind: st.integers(0, len(IMAGES[kind])).map(lambda n: IMAGES[kind][:n])
    ),
    st.binary(max_size=2000),
    st.sampled_from([b"", b"<html>not an image</html>", b"GIF89a", b"\xff\xd8\xff"]),
)


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema")
    assert response.status_code == 200
    return dict(response.json())


@pytest.fixture
def fuzz_client() -> Client:
    return Client(raise_request_exception=True)


def _run(check: Callable[..., None], strategy: st.SearchStrategy[Any], examples: int) -> int:
    calls = 0

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        check(case)

    run()
    return calls


def _no_server_error(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: HTTP {response.status_code}: {response.content[:300]!r}"


def test_it_answers_every_api_operation_without_a_server_error(
    indexed: list[Artwork], schema: dict[str, Any], fuzz_client: Client
) -> None:
    components = schema.get("components", {}).get("schemas", {})
    known_ids = [artwork.aic_id for artwork in indexed]
    path_values = st.one_of(st.sampled_from(known_ids).map(str), st.integers(-(2**70), 2**70).map(str), JUNK)
    total = 0
    operations = [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    assert {"/api/search", "/api/artworks/{aic_id}/similar"} <= {path for path, _, _ in operations}
    for path, method, operation in operations:
        parameters = operation.get("parameters", [])
        path_names = [p["name"] for p in parameters if p["in"] == "path"]
        strategy = st.tuples(
            st.fixed_dictionaries({name: path_values for name in path_names}),
            query_strategy(parameters, components),
            UPLOADS,
            st.sampled_from(["image", "file", ""]),
        )
        examples = 200 if path_names or "search" in path else 25

        def check(
            case: tuple[dict[str, str], list[tuple[str, str]], bytes, str], path: str = path, method: str = method
        ) -> None:
            path_args, query, upload, field = case
            url = path
            for name, value in path_args.items():
                url = url.replace("{" + name + "}", quote(value.encode("utf-8", "surrogatepass"), safe=""))
            url = f"{url}?{_encode(query)}"
            if method == "get":
                response = fuzz_client.get(url)
            else:
                files = {field: SimpleUploadedFile("upload.jpg", upload, "image/jpeg")} if field else {}
                response = fuzz_client.post(url, files)
            _no_server_error(response, f"{method.upper()} {url[:200]}")

        total += _run(check, strategy, examples)
    assert total >= 800


def test_it_answers_every_page_without_a_server_error(indexed: list[Artwork], fuzz_client: Client) -> None:
    known = [str(artwork.aic_id) for artwork in indexed]
    pages: st.SearchStrategy[tuple[str, list[tuple[str, str]]]] = st.one_of(
        st.tuples(
            st.just("/"),
            st.lists(st.tuples(st.sampled_from(["q", "mode", "page", "department", "sort"]), JUNK), max_size=4),
        ),
        st.tuples(
            st.one_of(st.sampled_from(known), st.integers(0, 2**70).map(str)).map(lambda aic_id: f"/artworks/{aic_id}"),
            st.just([]),
        ),
    )

    def check(case: tuple[str, list[tuple[str, str]]]) -> None:
        path, query = case
        _no_server_error(fuzz_client.get(f"{path}?{_encode(query)}"), path)

    calls = _run(check, pages, 150)
    uploads = _run(
        lambda upload: _no_server_error(
            fuzz_client.post("/search/image", {"image": SimpleUploadedFile("x.png", upload, "image/png")}),
            "/search/image",
        ),
        UPLOADS,
        60,
    )
    assert calls + uploads >= 200
