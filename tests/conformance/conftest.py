"""Fixtures of the conformance suite: one connected backend per test, for every dialect
in :data:`tests.conformance.dialects.DIALECTS`, against the demo server over loopback.

``demo_server`` (session scope) comes from ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from dialects import DIALECTS, DialectSpec  # this folder is on sys.path (rootdir-less)

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend


@pytest.fixture(params=DIALECTS, ids=[d.name for d in DIALECTS])
def spec(request: pytest.FixtureRequest) -> DialectSpec:
    """The dialect under test; applies its known gaps as strict xfails."""
    dialect: DialectSpec = request.param
    name = request.node.originalname or request.node.name
    reason = dialect.known_gaps.get(name)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"known gap: {reason}"))
    return dialect


@pytest.fixture
def server(demo_server: Any) -> Iterator[Any]:
    demo_server.faults.clear()
    yield demo_server
    demo_server.faults.clear()


async def _connect(server: Any, spec: DialectSpec, auth: str) -> Backend:
    backend = open_backend(server.profile(spec.name, auth), server.secrets(spec.name, auth))
    await backend.connect()
    return backend


@pytest.fixture
async def backend(server: Any, spec: DialectSpec) -> AsyncIterator[Backend]:
    b = await _connect(server, spec, spec.auths[0])
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
def connect(server: Any, spec: DialectSpec) -> Any:
    """``await connect(auth)``: another connected backend (closed by the test)."""

    async def make(auth: str) -> Backend:
        return await _connect(server, spec, auth)

    return make


@pytest.fixture
def marker() -> str:
    """A unique text to tag the records one test creates."""
    return f"cf{uuid.uuid4().hex[:10]}"
