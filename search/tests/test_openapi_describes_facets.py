"""The OpenAPI schema names the value filters (repeatable) and the facets of a search's answer."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)

FACETS = {
    "department",
    "artwork_type",
    "classification",
    "artist",
    "style",
    "subject",
    "place",
    "century",
    "is_public_domain",
    "is_on_view",
    "has_image",
}


def test_the_schema_has_the_value_filters_and_the_facets(client: Client) -> None:
    schema = client.get("/api/schema").json()
    components = schema["components"]["schemas"]
    for path, method in (("/api/search", "get"), ("/api/search/image", "post")):
        parameters = {p["name"]: p for p in schema["paths"][path][method]["parameters"]}
        for name in ("artist", "classification", "style", "subject", "place"):
            assert parameters[name]["schema"]["type"] == "array", (path, name)
            assert parameters[name]["schema"]["items"]["type"] == "string"
    search_out = components["SearchOut"]["properties"]
    assert search_out["facets"]["$ref"].endswith("/FacetsOut")
    facets = components["FacetsOut"]
    assert set(facets["properties"]) == FACETS
    assert set(facets["required"]) == FACETS
    value = components["FacetValueOut"]["properties"]
    assert set(value) == {"value", "count"}
    assert {option["type"] for option in value["value"]["anyOf"]} == {"string", "integer", "boolean"}
