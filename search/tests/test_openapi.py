"""The API describes itself: an OpenAPI 3 schema, and docs that need no network."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from catalog.models import Artwork

pytestmark = pytest.mark.django_db(transaction=True)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
    return dict(pairs)


def test_the_schema_covers_every_endpoint_with_typed_responses(client: Client, db: None) -> None:
    response = client.get("/api/schema")
    assert response.status_code == 200
    # Swagger UI reads the schema with a YAML parser, which refuses a key given twice.
    schema = json.loads(response.content, object_pairs_hook=_refuse_duplicate_keys)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/search",
        "/api/search/image",
        "/api/artworks/{aic_id}",
        "/api/artworks/{aic_id}/similar",
        "/api/artworks/similar",
        "/api/suggest",
        "/livez",
        "/readyz",
        "/healthz",
        "/metrics",
    }
    search = schema["paths"]["/api/search"]["get"]
    parameters = {p["name"] for p in search["parameters"]}
    assert {
        "q",
        "mode",
        "sort",
        "page",
        "page_size",
        "k",
        "department",
        "artwork_type",
        "date_from",
        "date_to",
    } <= parameters
    assert {"is_public_domain", "is_on_view", "has_image"} <= parameters
    ok = search["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/SearchOut")
    assert search["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    hit = schema["components"]["schemas"]["ArtworkHitOut"]["properties"]
    assert set(hit) == {
        *("id", "title", "artist", "date", "score", "image_url", "thumbnail_url", "pinned"),
        *("why", "weak", "similar"),
    }
    why = schema["components"]["schemas"]["WhyOut"]["properties"]
    assert set(why) == {
        *("keyword_rank", "semantic_rank", "similarity", "visual_match", "matched_terms", "snippet", "boost"),
    }
    assert {"strong", "match_threshold"} <= set(schema["components"]["schemas"]["SearchOut"]["properties"])
    suggest = schema["paths"]["/api/suggest"]["get"]
    assert {p["name"] for p in suggest["parameters"]} == {"q"}
    assert suggest["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SuggestOut")
    assert suggest["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    suggestion = schema["components"]["schemas"]["SuggestionOut"]["properties"]
    assert set(suggestion) == {"kind", "label", "url", "id", "artist"}
    upload = schema["paths"]["/api/search/image"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    image_filters = {"department", "artwork_type", "date_from", "date_to", "is_public_domain", "page", "page_size"}
    for method in ("post", "get"):
        by_image = schema["paths"]["/api/search/image"][method]
        assert {"q", "text_weight", "token"} | image_filters <= {p["name"] for p in by_image["parameters"]}, method
        assert by_image["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ImageSearchOut")
        assert "410" in by_image["responses"]
    assert "requestBody" not in schema["paths"]["/api/search/image"]["get"]
    assert {"token", "token_expires_in", "query", "text_weight"} <= set(
        schema["components"]["schemas"]["ImageSearchOut"]["properties"]
    )
    several = schema["paths"]["/api/artworks/similar"]["get"]
    assert {"ids"} | image_filters <= {p["name"] for p in several["parameters"]}
    assert "ids" in schema["components"]["schemas"]["SimilarToSeveralOut"]["properties"]
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_the_docs_page_loads_its_assets_from_this_site(client: Client, db: None) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(src|href)=\"https?://", html), "the docs must not load anything from another host"
    assets = re.findall(r"(?:src|href)=\"/static/([^\"]+)\"", html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert finders.find(asset), f"{asset} is not among this site's static files"


def test_the_artwork_endpoint_gives_the_full_record_with_licences(client: Client, indexed: list[Artwork]) -> None:
    artwork = next(a for a in indexed if a.description)
    body = client.get(f"/api/artworks/{artwork.aic_id}").json()
    assert body["id"] == artwork.aic_id and body["title"] == artwork.title
    assert body["description"] == artwork.description
    assert "CC BY 4.0" in body["description_license"] and "CC0" in body["license"]
    assert body["iiif_info_url"].endswith(f"/{artwork.image_id}/info.json")


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("get", "/api/artworks/999999999", 404, "no artwork with id 999999999"),
        ("get", "/api/artworks/99999999999999/similar", 404, "no artwork with id"),
        ("get", "/api/artworks/abc", 400, "aic_id must be an integer"),
        ("get", "/api/search?q=sea&k=ten", 400, "k must be an integer from 1 to 100, not 'ten'"),
        ("post", "/api/search/image", 400, "send the image as the multipart field 'image'"),
    ],
)
def test_errors_are_json_with_the_right_status(
    client: Client, indexed: list[Artwork], method: str, path: str, status: int, message: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert message in response.json()["error"]


def test_a_hidden_artwork_is_not_in_the_api(client: Client, indexed: list[Artwork], settings: Any) -> None:
    Artwork.objects.filter(pk=indexed[0].pk).update(is_hidden=True)
    assert client.get(f"/api/artworks/{indexed[0].aic_id}").status_code == 404
    assert client.get(f"/api/artworks/{indexed[0].aic_id}/similar").status_code == 404
