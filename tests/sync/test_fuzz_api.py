"""The OpenAPI document says exactly what the server checks (SPEC §6): schemathesis fuzzes a
real `fieldrm server run` process, authenticated, from the document it serves, and finds no
500, no answer outside its documented shape and no body accepted that the document forbids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from fieldrm.clock import now_ms, wall_ms
from fieldrm.sync.protocol import MAX_CLOCK_AHEAD_MS, PROTOCOL_HEADER, PROTOCOL_VERSION
from tests.support.servers import ServerProcess, add_user

EXAMPLES = 40  # per operation: five operations stay well under a minute
# A push of more than 500 changes is refused with 413, as the document says.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 413, 422]}}}
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("fuzz")
    running = ServerProcess(str(home / "server.db"), home).start()
    token = add_user(running.db_url, "alice", "acme", home)
    yield running.url, {"Authorization": f"Bearer {token}", PROTOCOL_HEADER: str(PROTOCOL_VERSION)}
    running.stop()


@pytest.fixture(scope="module")
def api_schema(served):
    url, headers = served
    document = httpx.get(f"{url}/openapi.json", headers=headers, timeout=30).json()
    return schemathesis.openapi.from_dict(document, config=CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_is_what_its_document_says(case, served):
    url, headers = served
    response = case.call(base_url=url, headers=headers, timeout=30)
    if response.status_code == 422 and _documented_refusal(case.body, response.json()):
        return
    case.validate_response(response, headers=headers)


def _out_of_order(body: Any) -> bool:
    """Whether a push body's seqs are integers that do not follow one another."""
    if not isinstance(body, dict) or not isinstance(body.get("ops"), list):
        return False
    seqs = [item[0] for item in body["ops"] if isinstance(item, list) and item]
    if not all(type(seq) in (int, float) for seq in seqs):
        return False
    return any(b != a + 1 for a, b in zip(seqs, seqs[1:], strict=False))


def _ahead(body: Any) -> bool:
    """Whether a push body holds a stamp more than the allowed minutes ahead of now."""
    ops = body.get("ops") if isinstance(body, dict) else None
    stamps = [
        item[1].get("hlc")
        for item in (ops if isinstance(ops, list) else ())
        if isinstance(item, list) and len(item) > 1 and isinstance(item[1], dict)
    ]
    limit = now_ms() + MAX_CLOCK_AHEAD_MS
    return any(isinstance(s, str) and len(s) == 16 and wall_ms(s) > limit for s in stamps)


def _documented_refusal(body: Any, answer: dict[str, Any]) -> bool:
    """A 422 for one of the two rules JSON Schema cannot say, which the document says in
    words, given only when the body really breaks it: seqs that do not follow one another,
    and a clock too far ahead (SPEC §5.9)."""
    if _out_of_order(body) and "out of order" in answer.get("detail", ""):
        return True
    return _ahead(body) and answer.get("error") == "clock_skew"
