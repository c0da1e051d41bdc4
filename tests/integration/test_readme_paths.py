"""Every API path the README names exists in the running API's OpenAPI document, and the README
names every one of them: a newcomer copying a path from it gets an endpoint, not a 404."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.api_catalog import SCHEMA_PATH
from tests.support.processes import running_api

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
API_PATH = re.compile(r"`(/(?:v1|api/v1)/[^`\s]*)`")


def test_the_readme_names_exactly_the_api_paths(pipeline_env: dict[str, str]) -> None:
    named = set(API_PATH.findall(README.read_text()))
    named.discard("/api/v1/finops/...")
    with running_api(pipeline_env) as base:
        schema = httpx.get(base + SCHEMA_PATH, timeout=30)
        assert schema.status_code == 200
        assert schema.headers["content-type"].startswith("application/")
        documented = {p for p in schema.json()["paths"] if p.startswith(("/v1/", "/api/v1/"))}
    assert named, "the README names no API path"
    assert named - documented == set(), "named in the README, not served"
    assert documented - named == set(), "served, not named in the README"
    assert f"`{SCHEMA_PATH}`" in README.read_text()
