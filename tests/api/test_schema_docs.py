"""The OpenAPI schema and its documentation pages are served, with assets from our host."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_their_assets_locally(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
    assert "//unpkg" not in html and "jsdelivr" not in html


def test_schema_is_served_and_documents_the_error_body(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Proctor API"
    courses = schema["paths"]["/api/v1/courses/{id}/"]["get"]["responses"]
    assert courses["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert "apiKey" in schema["components"]["securitySchemes"]


def test_docs_pages_have_no_inline_scripts(client):
    import re

    for url in ["/api/v1/docs/", "/api/v1/redoc/"]:
        html = client.get(url).content.decode()
        assert not re.search(r"<script>", html), url
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert b"SwaggerUIBundle" in script.content
