"""schemathesis against the live service through nginx (deploy/start.sh): every request it generates from
static/openapi.json gets a documented status, content type, headers and body shape, and never a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
schema = schemathesis.openapi.from_path(ROOT / "static" / "openapi.json")

# Enough examples per operation to reach every option and many kinds of broken upload, bounded so that
# the whole run takes about a minute through the real model.
EXAMPLES = 60


@pytest.fixture(scope="module")
def session():
    import requests

    with requests.Session() as session:
        yield session


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_service_keeps_what_its_description_promises(case, proxy, session):
    response = case.call_and_validate(base_url=proxy.base, session=session, timeout=60)
    assert response.status_code < 500, response.text
