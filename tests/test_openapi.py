"""schemathesis against the live service through nginx (deploy/start.sh): every request it generates from
static/openapi.json, valid and invalid, gets a documented status, content type, headers and body shape, and
never a 5xx.

Two checks are left out, because a schema cannot say what they ask: that every request inside the
description is accepted (an upload is `format: binary`, any bytes, and most bytes are not a photo: a 400
or 415 is the right answer), and that every request outside it is refused (the option parser is more
lenient than JSON Schema can say exactly: case-insensitive, surrounding white space, empty for the
default; the description lists the canonical values, and the fuzzer's `options` target, tests/fuzz.py,
searches the values it refuses)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

ROOT = Path(__file__).resolve().parents[1]
schema = schemathesis.openapi.from_path(ROOT / "static" / "openapi.json")

# Enough examples per operation to reach every option and many kinds of broken upload, bounded so that
# the whole run takes about a minute through the real model.
EXAMPLES = 150


@pytest.fixture(scope="module")
def session():
    import requests

    with requests.Session() as session:
        yield session


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_service_keeps_what_its_description_promises(case, proxy, session):
    response = case.call_and_validate(base_url=proxy.base, session=session, timeout=60,
                                      excluded_checks=[negative_data_rejection, positive_data_acceptance])
    assert response.status_code < 500, response.text
