"""Fixtures of the sync tests.

Every server-side test gets its database from ONE fixture, `server_db_url`, parametrized
over the server backends (SQLite now; PostgreSQL joins through the same fixture).  Tests
that need a fresh server state within one test (hypothesis examples) use a new workspace,
which the server keeps apart like another team.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from fieldrm.store import Store
from fieldrm.sync import client as sync_client
from fieldrm.sync.server import open_storage
from fieldrm.sync.server.app import create_app
from fieldrm.sync.server.storage import Storage
from tests.support.postgres import postgres_cluster  # noqa: F401 (server_db_url uses it)

SERVER_URL = "http://testserver"

# Our own profiles (not Hypothesis's global one: other test layers keep their settings).
# Modules pick "fieldrm-sync-slow" when FIELDRM_HYPOTHESIS_PROFILE=slow (ten times more).
_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
settings.register_profile("fieldrm-sync", max_examples=500, **_COMMON)
settings.register_profile("fieldrm-sync-slow", max_examples=5000, **_COMMON)


@pytest.fixture(params=["sqlite", "postgresql"])
def server_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty server database of each backend, as `--db` takes it."""
    if request.param == "sqlite":
        return str(tmp_path / "server.db")
    if request.param == "postgresql":
        # One throwaway cluster per session (tests/support/postgres.py), a database per test.
        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database()
        request.addfinalizer(lambda: cluster.drop_database(url))
        return url
    raise AssertionError(f"unknown server backend {request.param}")


@pytest.fixture
def storage(server_db_url: str) -> Iterator[Storage]:
    opened = open_storage(server_db_url)
    yield opened
    opened.close()


class InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport into the ASGI app, on one private event loop.

    Much lighter than Starlette's TestClient (one loop, no portal thread per call), which
    matters to the hypothesis model that makes thousands of requests.
    """

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def exchange() -> tuple[httpx.Response, bytes]:
            response = await self.inner.handle_async_request(request)
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
            return response, raw  # still compressed: the client decodes, as on a network

        response, body = self.loop.run_until_complete(exchange())
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            request=request,
        )

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def transport(storage: Storage) -> Iterator[InProcessTransport]:
    made = InProcessTransport(create_app(storage))
    yield made
    made.close()


@pytest.fixture
def http(transport: InProcessTransport) -> Iterator[httpx.Client]:
    """An httpx client talking to the server app in process (no sockets)."""
    client = httpx.Client(transport=transport)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries still happen, without waiting between them."""
    monkeypatch.setattr(sync_client, "BACKOFF", (0.0, 0.0, 0.0))


@pytest.fixture
def new_workspace(storage: Storage) -> Callable[..., str]:
    """Make a workspace with one user; returns the user's token."""

    def make(user: str = "alice", workspace: str | None = None) -> str:
        return storage.add_user(user, workspace or f"ws-{uuid.uuid4().hex[:8]}")

    return make


@pytest.fixture
def device(http: httpx.Client) -> Iterator[Callable[[str], Store]]:
    """A device (in-memory store) logged in with `token` to the in-process server."""
    stores: list[Store] = []

    def make(token: str) -> Store:
        store = Store.memory()
        sync_client.login(store, SERVER_URL, token, client=http)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()
