"""EspoCRM lead conversion: ``Backend.convert_lead`` over the demo EspoCRM (real loopback HTTP),
the demo's ``Lead/action/convert`` / ``getConvertAttributes`` answering like 8.4.2's
ConvertService, and the pure mapping of a conversion's error answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import pytest

from crmdesk.backends import open_backend
from crmdesk.backends.espocrm import wire
from crmdesk.core import errors as E
from crmdesk.core.backend import Backend
from crmdesk.core.query import Condition, Op, Query
from crmdesk.core.records import PageRequest, Record
from crmdesk.demo.server import DemoServer


@pytest.fixture
async def be(demo_server: DemoServer) -> AsyncIterator[Backend]:
    b = open_backend(
        demo_server.profile("espocrm", "api_key"), demo_server.secrets("espocrm", "api_key")
    )
    await b.connect()
    yield b
    await b.close()


def uid() -> str:
    return uuid.uuid4().hex[:8]


async def new_lead(be: Backend, **extra: object) -> Record:
    tag = uid()
    values: dict[str, object] = {
        "firstName": "Ana",
        "lastName": f"Lead {tag}",
        "accountName": f"Firm {tag}",
        "emailAddress": f"ana.{tag}@leads.example.com",
        "phoneNumber": "+49 30 1234567",
        "addressCity": "Berlin",
        "source": "Web Site",
        **extra,
    }
    return await be.create("Lead", values)  # type: ignore[arg-type]


async def names_in(be: Backend, module: str, field: str, value: str) -> list[str]:
    page = await be.list_records(
        module, Query(filter=Condition(field, Op.EQ, value)), PageRequest(size=20)
    )
    return [r.id for r in page.records]


async def test_the_capability_is_on(be: Backend) -> None:
    assert be.capabilities.lead_conversion


async def test_convert_attributes_copy_the_lead_like_espocrm(
    be: Backend, demo_server: DemoServer
) -> None:
    lead = await new_lead(be)
    raw = await be.raw_request("POST", "Lead/action/getConvertAttributes", body={"id": lead.id})
    assert raw.status == 200
    attrs = raw.json
    assert set(attrs) == {"Account", "Contact", "Opportunity"}
    contact, account, deal = attrs["Contact"], attrs["Account"], attrs["Opportunity"]
    assert (contact["firstName"], contact["lastName"]) == ("Ana", lead.get("lastName"))
    assert contact["emailAddress"] == lead.get("emailAddress")
    assert contact["phoneNumber"] == "+49301234567"
    assert contact["addressCity"] == "Berlin"
    assert account["name"] == lead.get("accountName")  # convertFields: name ← accountName
    assert account["billingAddressCity"] == "Berlin"  # ← addressCity
    assert "firstName" not in account
    assert deal["leadSource"] == "Web Site"  # ← source
    assert "name" not in deal  # personName vs varchar: not copied
    assert "createdAt" not in contact
    missing = await be.raw_request("POST", "Lead/action/getConvertAttributes", body={"id": "nope"})
    assert missing.status == 404


async def test_convert_into_account_contact_and_opportunity(be: Backend) -> None:
    lead = await new_lead(be)
    deal_name = f"Deal {uid()}"
    ids = await be.convert_lead(
        lead.id,
        {
            "Contact": {"lastName": lead.get("lastName")},
            "Account": {"name": lead.get("accountName")},
            "Opportunity": {
                "name": deal_name,
                "amount": Decimal("2500"),
                "closeDate": date(2027, 3, 31),
            },
        },
    )
    assert set(ids) == {"Contact", "Account", "Opportunity"}
    fresh = await be.get("Lead", lead.id)
    assert fresh.get("status") == "Converted"
    assert fresh.get("convertedAt") is not None
    assert fresh.get("createdAccountId") == ids["Account"]
    assert fresh.get("createdContactId") == ids["Contact"]
    assert fresh.get("createdOpportunityId") == ids["Opportunity"]
    assert fresh.get("createdContactName") == f"Ana {lead.get('lastName')}"
    contact = await be.get("Contact", ids["Contact"])
    assert contact.get("accountId") == ids["Account"]
    # what the dialog did not show came from the lead (getConvertAttributes)
    assert contact.get("firstName") == "Ana"
    assert contact.get("emailAddress") == lead.get("emailAddress")
    account = await be.get("Account", ids["Account"])
    assert account.get("billingAddressCity") == "Berlin"
    deal = await be.get("Opportunity", ids["Opportunity"])
    assert deal.get("name") == deal_name
    assert deal.get("accountId") == ids["Account"]
    assert deal.get("contactsIds") == (ids["Contact"],)
    assert deal.get("leadSource") == "Web Site"
    # the created records are the lead's related records
    for link, module in (("createdContact", "Contact"), ("createdAccount", "Account")):
        page = await be.related("Lead", lead.id, link, Query(), PageRequest(size=5))
        assert [r.id for r in page.records] == [ids[module]]
    mdef = await be.describe("Lead")
    assert {lk.name for lk in mdef.links} >= {"createdAccount", "createdContact"}


async def test_convert_into_a_contact_only(be: Backend) -> None:
    lead = await new_lead(be)
    ids = await be.convert_lead(lead.id, {"Contacts": {"lastName": lead.get("lastName")}})
    assert list(ids) == ["Contacts"]  # keyed as asked (plural names are accepted)
    fresh = await be.get("Lead", lead.id)
    assert fresh.get("status") == "Converted"
    assert fresh.get("createdContactId") == ids["Contacts"]
    assert fresh.get("createdAccountId") is None
    assert fresh.get("createdOpportunityId") is None
    contact = await be.get("Contact", ids["Contacts"])
    assert contact.get("accountId") is None
    assert await names_in(be, "Account", "name", str(lead.get("accountName"))) == []
    page = await be.related("Lead", lead.id, "createdAccount", Query(), PageRequest(size=5))
    assert page.records == []


async def test_converting_twice(be: Backend) -> None:
    lead = await new_lead(be)
    last = str(lead.get("lastName"))
    ids = await be.convert_lead(lead.id, {"Contact": {"lastName": last}})
    # crmdesk refuses, naming what the lead became ...
    with pytest.raises(E.ValidationError) as info:
        await be.convert_lead(lead.id, {"Contact": {"lastName": last}})
    assert "already converted" in info.value.message
    assert f"Ana {last}" in info.value.message
    # ... because EspoCRM itself does not: the same records again are duplicates (409) ...
    raw = await be.raw_request(
        "POST",
        "Lead/action/convert",
        body={"id": lead.id, "records": {"Contact": {"firstName": "Ana", "lastName": last}}},
    )
    assert raw.status == 409
    assert raw.reason == "duplicate"
    assert raw.json == [{"id": ids["Contact"], "name": f"Ana {last}", "_entityType": "Contact"}]
    # ... and other ones are simply created a second time
    again = await be.raw_request(
        "POST",
        "Lead/action/convert",
        body={"id": lead.id, "records": {"Contact": {"lastName": f"Other {uid()}"}}},
    )
    assert again.status == 200
    assert again.json["status"] == "Converted"
    assert again.json["createdContactId"] not in (None, ids["Contact"])


async def test_duplicates_found_by_the_server_are_named(be: Backend) -> None:
    existing = await be.create("Contact", {"firstName": "Ana", "lastName": f"Dup {uid()}"})
    lead = await new_lead(be, lastName=existing.get("lastName"))
    with pytest.raises(E.Conflict) as info:
        await be.convert_lead(
            lead.id,
            {
                "Contact": {"lastName": lead.get("lastName")},
                "Account": {"name": lead.get("accountName")},
            },
        )
    err = info.value
    assert err.status == 409
    assert f"Contact “Ana {existing.get('lastName')}”" in err.message
    # 8.4.2 created the account before it found the duplicate contact, and says nothing
    assert "account" in err.advice
    assert len(await names_in(be, "Account", "name", str(lead.get("accountName")))) == 1
    fresh = await be.get("Lead", lead.id)
    assert fresh.get("status") != "Converted"
    assert fresh.get("createdContactId") is None


async def test_a_missing_required_value_is_a_field_error_and_nothing_is_sent(
    be: Backend,
) -> None:
    lead = await new_lead(be)
    account_name = str(lead.get("accountName"))
    with pytest.raises(E.ValidationError) as info:
        await be.convert_lead(
            lead.id,
            {
                "Account": {"name": account_name},
                "Opportunity": {"name": f"Deal {uid()}", "amount": Decimal("10")},
            },
        )
    err = info.value
    assert set(err.fields) == {"closeDate"}
    assert "Opportunity" in err.message
    # checked before sending: the account was not created, the lead is untouched
    assert await names_in(be, "Account", "name", account_name) == []
    assert (await be.get("Lead", lead.id)).get("status") == "New"


async def test_a_value_the_server_refuses_mid_conversion(be: Backend) -> None:
    """8.4.2 turns a create's validation failure into a bare 500, after creating the records
    before it (the account); the message says so."""
    lead = await new_lead(be)
    account_name = str(lead.get("accountName"))
    with pytest.raises(E.ServerError) as info:
        await be.convert_lead(
            lead.id,
            {"Account": {"name": account_name}, "Contact": {"emailAddress": "not-an-email"}},
        )
    assert info.value.status == 500
    assert "account" in info.value.advice
    assert len(await names_in(be, "Account", "name", account_name)) == 1
    assert (await be.get("Lead", lead.id)).get("status") == "New"


async def test_bad_targets_and_unknown_leads(be: Backend) -> None:
    lead = await new_lead(be)
    with pytest.raises(E.ValidationError):
        await be.convert_lead(lead.id, {"Case": {"name": "x"}})
    with pytest.raises(E.ValidationError):
        await be.convert_lead(lead.id, {})
    with pytest.raises(E.NotFound):
        await be.convert_lead("no-such-lead", {"Contact": {"lastName": "x"}})
    raw = await be.raw_request("POST", "Lead/action/convert", body={"records": {}})
    assert raw.status == 400
    raw = await be.raw_request("POST", "Lead/action/nothing", body={"id": lead.id})
    assert raw.status == 404
    assert "does not exist in controller" in raw.reason


def test_convert_error_mapping_is_pure() -> None:
    contact = b'{"id":"c1","name":"Ana Lee","_entityType":"Contact"}'
    body = b"[" + contact + b',{"id":"a1","name":"Lee Co","_entityType":"Account"}]'
    err = wire.convert_error(409, {"X-Status-Reason": "duplicate"}, body, requested=("Account",))
    assert isinstance(err, E.Conflict)
    assert err.message.endswith("Contact “Ana Lee”, Account “Lee Co”.")
    assert "before it looks for duplicate" not in err.advice  # the account was a duplicate too
    only_contact = wire.convert_error(
        409,
        {"X-Status-Reason": "duplicate"},
        b"[" + contact + b"]",
        requested=("Account", "Contact"),
    )
    assert "creates the new account" in only_contact.advice
    assert wire.parse_convert_duplicates(b"<html>") == []
    bare = wire.convert_error(500, {}, b"")
    assert isinstance(bare, E.ServerError)
    assert "refuses a value" in bare.advice
    other = wire.convert_error(403, {"X-Status-Reason": "No edit access."}, b"")
    assert isinstance(other, E.PermissionDenied)
