"""SugarCRM ``/bulk``: each sub-answer is its own record's result, so one odd sub-answer
(not an object, no contents, text where a record belongs, an error body under 200, a 500)
never loses the other records' results.

The parsing is pure (no network).  Over the demo server, a relay in front of the real
loopback transport alters one item of Sugar's real ``/bulk`` answer, since the demo's
fault injection acts on whole requests, not on sub-answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from crmdesk.backends.sugarcrm import wire
from crmdesk.backends.sugarcrm.backend import SugarCrmBackend
from crmdesk.backends.transport import Transport
from crmdesk.core.errors import Conflict, NotFound, PermissionDenied, ProtocolError, ServerError
from crmdesk.core.records import Record
from crmdesk.demo.server import DemoServer

RECORD = {"id": "a1", "name": "Acme", "_module": "Accounts", "_acl": {"fields": {}}}


def item(contents: Any, status: Any = 200) -> dict[str, Any]:
    return {"contents": contents, "headers": [], "status": status, "status_text": ""}


# -- pure parsing ------------------------------------------------------------------------
def test_parse_bulk_keeps_odd_items_apart_instead_of_failing_the_batch() -> None:
    body = [
        item(RECORD),
        "500 Internal Server Error",
        None,
        {"status": 200},
        item(RECORD, status=None),
        item(RECORD, status="404"),
    ]
    assert wire.parse_bulk(body) == [
        (200, RECORD),
        (wire.NOT_AN_ANSWER, "500 Internal Server Error"),
        (wire.NOT_AN_ANSWER, None),
        (200, None),
        (200, RECORD),
        (404, RECORD),
    ]
    with pytest.raises(ProtocolError):
        wire.parse_bulk("<html>Fatal error</html>")  # no list at all: the batch's problem


@pytest.mark.parametrize(
    ("status", "contents", "kind", "words"),
    [
        (wire.NOT_AN_ANSWER, "500 Internal Server Error", ProtocolError, "no proper answer"),
        (200, None, ProtocolError, "with nothing instead of the record"),
        (200, "<b>Fatal error</b>: Uncaught Exception", ProtocolError, "with text instead"),
        (200, [RECORD], ProtocolError, "with a list instead"),
        (200, {"name": "no id"}, ProtocolError, "an object that is no record"),
        (500, "", ServerError, "Sugar failed to complete the request."),
        (500, "<b>Fatal error</b>", ServerError, "Sugar failed to complete the request."),
        (200, {"error": "not_found", "error_message": "Could not find record"}, NotFound,
         "Could not find record"),
        (200, {"error": "not_authorized", "error_message": "No access"}, PermissionDenied,
         "No access"),
        (404, {"error": "not_found", "error_message": "Could not find record: x"}, NotFound,
         "Could not find record: x"),
        (403, None, PermissionDenied, "not allowed"),
    ],
)  # fmt: skip
def test_each_odd_sub_answer_is_its_records_error_with_a_clear_message(
    status: int, contents: Any, kind: type[Exception], words: str
) -> None:
    result = wire.bulk_record(status, contents, "Accounts")
    assert type(result) is kind
    assert isinstance(result, kind)
    assert words in str(result)
    if kind is ProtocolError:
        assert "reload the list to see" in str(result)


def test_a_record_and_a_conflict_come_out_as_such() -> None:
    record = wire.bulk_record(200, RECORD, "Accounts")
    assert isinstance(record, Record)
    assert (record.id, record.get("name")) == ("a1", "Acme")
    theirs = {**RECORD, "name": "Theirs"}
    body = {"error": "edit_conflict", "error_message": "Edit conflict", "record": theirs}
    conflict = wire.bulk_record(409, body, "Accounts")
    assert isinstance(conflict, Conflict)
    assert conflict.current is not None
    assert conflict.current.get("name") == "Theirs"


def test_a_delete_is_done_only_when_sugar_confirms_it() -> None:
    assert wire.bulk_deleted(200, {"id": "a1"}, "Accounts") is None
    for contents in (None, "<b>Fatal error</b>", ["a1"]):
        error = wire.bulk_deleted(200, contents, "Accounts")
        assert isinstance(error, ProtocolError)
        assert "whether it is gone is not known" in str(error)
    assert isinstance(wire.bulk_deleted(404, {"error": "not_found"}, "Accounts"), NotFound)
    assert isinstance(wire.bulk_deleted(wire.NOT_AN_ANSWER, 7, "Accounts"), ProtocolError)


# -- over the demo server ----------------------------------------------------------------
Alter = Callable[[list[Any]], list[Any]]


class Relay(httpx.AsyncBaseTransport):
    """Sends every request to the demo server over loopback; ``alter`` rewrites the item
    list of ``/bulk`` answers (once set)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.alter: Alter | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.alter is None or not request.url.path.endswith("/bulk"):
            return response
        body = json.loads(await response.aread())
        await response.aclose()
        content = json.dumps(self.alter(body)).encode()
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers, content=content)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def relayed(demo_server: DemoServer) -> AsyncIterator[tuple[SugarCrmBackend, Relay]]:
    relay = Relay()
    client = httpx.AsyncClient(transport=relay, timeout=20)
    backend = SugarCrmBackend(
        demo_server.profile("sugarcrm"), demo_server.secrets("sugarcrm"), Transport(client)
    )
    await backend.connect()
    try:
        yield backend, relay
    finally:
        await backend.close()


async def accounts(backend: SugarCrmBackend, n: int) -> list[str]:
    tag = f"Bulk {uuid.uuid4().hex[:8]}"
    return [(await backend.create("Accounts", {"name": f"{tag} {i}"})).id for i in range(n)]


async def test_mass_update_keeps_the_good_answers_when_two_sub_answers_are_odd(
    relayed: tuple[SugarCrmBackend, Relay],
) -> None:
    backend, relay = relayed
    ids = await accounts(backend, 4)

    def alter(items: list[Any]) -> list[Any]:
        items[1] = "500 Internal Server Error"  # not an answer object
        items[2] = {**items[2], "contents": "<b>Fatal error</b>"}  # text under 200
        return items

    relay.alter = alter
    result = await backend.bulk_update("Accounts", ids, {"industry": "Banking"})
    assert result.done == (ids[0], ids[3])
    assert {rid: r.get("industry") for rid, r in result.records.items()} == {
        ids[0]: "Banking",
        ids[3]: "Banking",
    }
    assert set(result.failed) == {ids[1], ids[2]}
    assert "no proper answer for this record" in str(result.failed[ids[1]])
    assert "with text instead of the record" in str(result.failed[ids[2]])
    assert all(isinstance(e, ProtocolError) for e in result.failed.values())


async def test_a_missing_item_fails_only_its_record(
    relayed: tuple[SugarCrmBackend, Relay],
) -> None:
    backend, relay = relayed
    ids = await accounts(backend, 3)
    relay.alter = lambda items: items[:-1]
    result = await backend.bulk_update("Accounts", ids, {"industry": "Energy"})
    assert result.done == (ids[0], ids[1])
    assert list(result.failed) == [ids[2]]
    assert "no proper answer" in str(result.failed[ids[2]])


async def test_mass_delete_with_an_error_body_and_no_contents_keeps_the_others(
    relayed: tuple[SugarCrmBackend, Relay],
) -> None:
    backend, relay = relayed
    ids = await accounts(backend, 3)

    def alter(items: list[Any]) -> list[Any]:
        items[0] = {"status": 200}  # no contents
        items[2] = item({"error": "not_authorized", "error_message": "Not allowed here"})
        return items

    relay.alter = alter
    result = await backend.bulk_delete("Accounts", ids)
    assert result.done == (ids[1],)
    assert "whether it is gone is not known" in str(result.failed[ids[0]])
    assert isinstance(result.failed[ids[2]], PermissionDenied)
    assert str(result.failed[ids[2]]).startswith("Not allowed here")
    relay.alter = None
    with pytest.raises(NotFound):
        await backend.get("Accounts", ids[1])


async def test_a_sub_request_error_from_the_demo_itself_is_per_record(
    relayed: tuple[SugarCrmBackend, Relay],
) -> None:
    """No relay change: the demo answers a missing id's sub-request 404 inside a 200."""
    backend, _relay = relayed
    ids = await accounts(backend, 2)
    result = await backend.bulk_update(
        "Accounts", [ids[0], "no-such-id", ids[1]], {"industry": "Retail"}
    )
    assert result.done == (ids[0], ids[1])
    assert isinstance(result.failed["no-such-id"], NotFound)
