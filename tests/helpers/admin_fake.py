"""A hand-written in-memory Backend with rich metadata, for the admin view tests.

Two modules carry custom fields and picklists, one module is custom, one is not an
entity; the user has a per-module ACL; ``raw_request`` echoes what it was sent.  Every
call that changes something is appended to ``calls`` so a test can check the view
really went through the backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from crmdesk.backends.redact import register_secret
from crmdesk.core.backend import Backend, Capabilities, PicklistDependency, RawResponse
from crmdesk.core.errors import NotFound, ValidationError
from crmdesk.core.query import Query
from crmdesk.core.records import Page, PageRequest, Record, UserInfo, Value
from crmdesk.core.schema import (
    Cardinality,
    FieldDef,
    FieldType,
    LinkDef,
    ModuleDef,
    ModuleInfo,
    Option,
)

FAKE_TOKEN = "tok-9f8e7d6c5b4a-SECRET"
FAKE_PASSWORD = "hunter2-very-secret"


def _opts(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(k, v) for k, v in pairs)


def _accounts(industry: tuple[Option, ...]) -> ModuleDef:
    fields = (
        FieldDef("id", "ID", FieldType.ID, read_only=True, native_type="id"),
        FieldDef("name", "Name", FieldType.TEXT, required=True, length=150, native_type="name"),
        FieldDef(
            "industry",
            "Industry",
            FieldType.ENUM,
            options=industry,
            native_type="enum",
            default="Other",
        ),
        FieldDef(
            "account_type",
            "Type",
            FieldType.ENUM,
            native_type="enum",
            options=_opts(
                ("Customer", "Customer"), ("Partner", "Partner"), ("Reseller", "Reseller")
            ),
        ),
        FieldDef("annual_revenue", "Annual revenue", FieldType.CURRENCY, native_type="currency"),
        FieldDef("employees", "Employees", FieldType.INT, length=10, native_type="int"),
        FieldDef("website", "Website", FieldType.URL, length=255, native_type="url"),
        FieldDef("email1", "Email", FieldType.EMAIL, length=100, native_type="email"),
        FieldDef(
            "parent_id",
            "Member of",
            FieldType.RELATE,
            relate_module="Accounts",
            native_type="relate",
        ),
        FieldDef(
            "date_modified", "Modified", FieldType.DATETIME, read_only=True, native_type="datetime"
        ),
        FieldDef(
            "rating_c",
            "<b>Rating</b>",
            FieldType.ENUM,
            custom=True,
            native_type="enum",
            options=_opts(("hot", "Hot"), ("warm", "Warm"), ("cold", "Cold")),
        ),
        FieldDef(
            "regions_c",
            "Regions",
            FieldType.MULTIENUM,
            custom=True,
            native_type="multienum",
            options=_opts(("emea", "EMEA"), ("amer", "Americas"), ("apac", "Asia Pacific")),
        ),
        FieldDef(
            "vat_c", "VAT number", FieldType.TEXT, custom=True, length=20, native_type="varchar"
        ),
    )
    links = (
        LinkDef("contacts", "Contacts", "Contacts", Cardinality.MANY, "accounts_contacts"),
        LinkDef("members", "Members", "Accounts", Cardinality.MANY, "member_accounts"),
        LinkDef("projects", "Projects", "Projects_c", Cardinality.MANY, "accounts_projects_c"),
    )
    raw = {
        "module": "Accounts",
        "fields": {
            f.name: {"name": f.name, "type": f.native_type, "len": f.length} for f in fields
        },
        "relationships": {lk.name: {"module": lk.target_module} for lk in links},
    }
    return ModuleDef(
        "Accounts",
        "Accounts",
        fields,
        links,
        raw=raw,
        list_fields=("name", "industry", "account_type", "email1"),
    )


def _contacts() -> ModuleDef:
    fields = (
        FieldDef("id", "ID", FieldType.ID, read_only=True, native_type="id"),
        FieldDef("first_name", "First name", FieldType.TEXT, length=100, native_type="varchar"),
        FieldDef(
            "last_name",
            "Last name",
            FieldType.TEXT,
            required=True,
            length=100,
            native_type="varchar",
        ),
        FieldDef(
            "account_id",
            "Account",
            FieldType.RELATE,
            relate_module="Accounts",
            native_type="relate",
        ),
        FieldDef(
            "lead_source",
            "Lead source",
            FieldType.ENUM,
            native_type="enum",
            options=_opts(("web", "Web"), ("call", "Cold call")),
        ),
    )
    return ModuleDef(
        "Contacts",
        "Contacts",
        fields,
        (LinkDef("accounts", "Accounts", "Accounts", Cardinality.ONE, "accounts_contacts"),),
        name_field="last_name",
        raw={"module": "Contacts", "fields": [{"name": "last_name"}]},
    )


def _projects() -> ModuleDef:
    fields = (
        FieldDef("id", "ID", FieldType.ID, read_only=True, native_type="id"),
        FieldDef("name", "Name", FieldType.TEXT, required=True, length=255, native_type="name"),
        FieldDef(
            "stage_c",
            "Stage",
            FieldType.ENUM,
            custom=True,
            native_type="enum",
            options=_opts(("plan", "Planning"), ("run", "Running"), ("done", "Done")),
        ),
        FieldDef(
            "phase_c",
            "Phase",
            FieldType.ENUM,
            custom=True,
            native_type="enum",
            options=_opts(("p1", "Kick-off"), ("p2", "Build"), ("p3", "Handover")),
        ),
    )
    return ModuleDef("Projects_c", "Projects", fields, custom=True, raw={"module": "Projects_c"})


class FakeBackend(Backend):
    """Everything an admin view can ask for, in memory."""

    dialect: ClassVar[str] = "fake"
    capabilities: ClassVar[Capabilities] = Capabilities(
        picklist_admin=True, picklist_dependencies=True, raw_request=True
    )

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.industry = [
            Option("Banking", "Banking"),
            Option("Energy", "Energy"),
            Option("Other", "Other"),
        ]
        register_secret(FAKE_TOKEN)
        register_secret(FAKE_PASSWORD)

    # -- session -----------------------------------------------------------------------
    async def connect(self) -> None:
        self.calls.append(("connect",))

    async def close(self) -> None:
        self.calls.append(("close",))

    # -- metadata ----------------------------------------------------------------------
    async def modules(self) -> list[ModuleInfo]:
        return [
            ModuleInfo("Accounts", "Accounts", access=frozenset({"list", "view", "edit"})),
            ModuleInfo("Contacts", "Contacts"),
            ModuleInfo("Projects_c", "Projects", custom=True),
            ModuleInfo("Settings", "Settings", entity=False),
        ]

    def _defs(self) -> dict[str, ModuleDef]:
        return {
            "Accounts": _accounts(tuple(self.industry)),
            "Contacts": _contacts(),
            "Projects_c": _projects(),
            "Settings": ModuleDef("Settings", "Settings", (), entity=False),
        }

    async def describe(self, module: str) -> ModuleDef:
        self.calls.append(("describe", module))
        try:
            return self._defs()[module]
        except KeyError:
            raise NotFound(f"There is no module {module}.") from None

    async def me(self) -> UserInfo:
        return UserInfo(
            id="1",
            user_name="admin",
            display_name="<b>Ada</b> Admin",
            is_admin=True,
            email="ada@example.test",
            time_zone="Europe/Berlin",
            access={
                "Accounts": frozenset({"list", "view", "create", "edit", "delete"}),
                "Contacts": frozenset({"list", "view"}),
                "Projects_c": frozenset({"list", "view", "export"}),
            },
            extra={"role": "Sales manager", "editionLimits.users": "10"},
        )

    async def picklist_dependencies(self, module: str) -> list[PicklistDependency]:
        if module != "Projects_c":
            return []
        return [
            PicklistDependency(
                "stage_c", "phase_c", {"plan": ("p1",), "run": ("p2", "p3"), "done": ("p3",)}
            )
        ]

    # -- picklist admin ----------------------------------------------------------------
    def _check_field(self, module: str, field_name: str) -> None:
        if (module, field_name) != ("Accounts", "industry"):
            raise ValidationError(f"The fake only edits Accounts.industry, not {field_name}.")

    async def add_picklist_value(self, module: str, field_name: str, value: str) -> None:
        self.calls.append(("add", module, field_name, value))
        self._check_field(module, field_name)
        self.industry.append(Option(value, value))

    async def rename_picklist_value(self, module: str, field_name: str, old: str, new: str) -> None:
        self.calls.append(("rename", module, field_name, old, new))
        self._check_field(module, field_name)
        self.industry = [Option(new, new) if o.key == old else o for o in self.industry]

    async def delete_picklist_value(
        self, module: str, field_name: str, value: str, replacement: str
    ) -> None:
        self.calls.append(("delete", module, field_name, value, replacement))
        self._check_field(module, field_name)
        self.industry = [o for o in self.industry if o.key != value]

    # -- the console -------------------------------------------------------------------
    async def raw_request(
        self, method: str, path: str, query: Sequence[tuple[str, str]] = (), body: Any = None
    ) -> RawResponse:
        self.calls.append(("raw", method, path, tuple(query), body))
        if path == "html":
            page = f"<html><b>Login</b> token={FAKE_TOKEN}</html>"
            return RawResponse(502, "Bad Gateway", {"Content-Type": "text/html"}, page)
        payload = {
            "method": method,
            "path": path,
            "query": [list(q) for q in query],
            "body": body,
            "markup": "<b>x</b>",
            "items": [{"id": i, "name": f"Item {i}"} for i in range(3)],
        }
        text = json.dumps(payload)
        qs = "&".join(f"{k}={v}" for k, v in query)
        return RawResponse(
            status=404 if path.startswith("missing") else 200,
            reason="Not Found" if path.startswith("missing") else "OK",
            headers={"Content-Type": "application/json", "X-Fake": "yes"},
            body_text=text,
            json=payload,
            is_json=True,
            elapsed_ms=12.5,
            url=f"http://127.0.0.1:9/api/v1/{path}" + (f"?{qs}" if qs else ""),
            request_headers={
                "Authorization": f"Bearer {FAKE_TOKEN}",
                "X-Api-Key": FAKE_PASSWORD,
                "Accept": "application/json",
            },
        )

    # -- records (not used by the admin views) -----------------------------------------
    async def list_records(self, module: str, query: Query, page: PageRequest) -> Page:
        return Page([], total=0)

    async def get(self, module: str, record_id: str) -> Record:
        raise NotFound("No records in the fake.")

    async def create(self, module: str, values: Mapping[str, Value]) -> Record:
        raise NotFound("No records in the fake.")

    async def update(
        self,
        module: str,
        record_id: str,
        changes: Mapping[str, Value],
        expected_version: Any = None,
    ) -> Record:
        raise NotFound("No records in the fake.")

    async def delete(self, module: str, record_id: str) -> None:
        raise NotFound("No records in the fake.")


class PlainFakeBackend(FakeBackend):
    """The same CRM without picklist admin, dependencies, a console or a "who am I"."""

    dialect: ClassVar[str] = "plainfake"
    capabilities: ClassVar[Capabilities] = Capabilities()

    async def me(self) -> UserInfo:
        return await Backend.me(self)

    async def picklist_dependencies(self, module: str) -> list[PicklistDependency]:
        return await Backend.picklist_dependencies(self, module)

    async def add_picklist_value(self, module: str, field_name: str, value: str) -> None:
        await Backend.add_picklist_value(self, module, field_name, value)

    async def raw_request(
        self, method: str, path: str, query: Sequence[tuple[str, str]] = (), body: Any = None
    ) -> RawResponse:
        return await Backend.raw_request(self, method, path, query, body)


class StagingFakeBackend(FakeBackend):
    """A second instance whose Accounts differ: for the compare view."""

    dialect: ClassVar[str] = "stagingfake"

    async def describe(self, module: str) -> ModuleDef:
        mdef = await super().describe(module)
        if module != "Accounts":
            return mdef
        changed: list[FieldDef] = []
        for f in mdef.fields:
            if f.name == "vat_c":
                continue  # missing on staging
            if f.name == "name":
                f = FieldDef("name", "Name", FieldType.TEXT, required=True, length=255)
            if f.name == "employees":
                f = FieldDef("employees", "Employees", FieldType.TEXT, length=10)
            changed.append(f)
        changed.append(FieldDef("sla_c", "SLA", FieldType.TEXT, custom=True))
        return ModuleDef("Accounts", "Accounts", tuple(changed), mdef.links)


class ScriptedPrompter:
    """Answers the views' questions from a script, and remembers what it was asked."""

    def __init__(
        self,
        texts: Sequence[str | None] = (),
        choices: Sequence[str | None] = (),
        confirms: Sequence[bool] = (),
        path: str | None = None,
    ) -> None:
        self.texts = list(texts)
        self.choices = list(choices)
        self.confirms = list(confirms)
        self.path = path
        self.asked: list[tuple[str, str]] = []
        self.offered: list[list[str]] = []

    def ask_text(self, parent: object, title: str, label: str, initial: str = "") -> str | None:
        self.asked.append(("text", label))
        return self.texts.pop(0)

    def choose(self, parent: object, title: str, label: str, items: list[str]) -> str | None:
        self.asked.append(("choose", label))
        self.offered.append(list(items))
        return self.choices.pop(0)

    def confirm(self, parent: object, title: str, text: str) -> bool:
        self.asked.append(("confirm", text))
        return self.confirms.pop(0)

    def save_path(self, parent: object, title: str, suggested: str, filter_: str) -> str | None:
        self.asked.append(("save", suggested))
        return self.path
