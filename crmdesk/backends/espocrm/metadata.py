"""EspoCRM ``Metadata`` + ``I18n`` + layouts + the user's ACL → ModuleInfo / ModuleDef.

EspoCRM describes an entity as *fields* (``account``, of type ``link``) that map to
*attributes* on the wire (``accountId``, ``accountName``).  Our FieldDefs are named after the
attribute a value is read from and written to, so ``select``, ``where`` and the JSON body all
use the same names: a ``link`` becomes a RELATE field ``accountId`` whose display name is in
``accountName``; a ``linkMultiple`` becomes a read-only RELATE ``teamsIds`` (ids as a tuple)
with the names in ``teamsNames``.  Composite ``address`` fields are left out (their parts are
fields of their own), ``personName`` is the computed, read-only ``name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmdesk.backends.common import parse_length
from crmdesk.core.schema import (
    Cardinality,
    FieldDef,
    FieldType,
    LinkDef,
    ModuleDef,
    ModuleInfo,
    Option,
    Section,
)

#: EspoCRM field type → our FieldType.  Anything else is UNKNOWN (shown read-only).
TYPE_MAP: dict[str, FieldType] = {
    "varchar": FieldType.TEXT,
    "text": FieldType.MULTILINE,
    "wysiwyg": FieldType.MULTILINE,
    "enum": FieldType.ENUM,
    "multiEnum": FieldType.MULTIENUM,
    "array": FieldType.MULTIENUM,
    "checklist": FieldType.MULTIENUM,
    "bool": FieldType.BOOL,
    "int": FieldType.INT,
    "autoincrement": FieldType.INT,
    "float": FieldType.DECIMAL,
    "currency": FieldType.CURRENCY,
    "currencyConverted": FieldType.CURRENCY,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "datetimeOptional": FieldType.DATETIME,
    "email": FieldType.EMAIL,
    "phone": FieldType.PHONE,
    "url": FieldType.URL,
    "personName": FieldType.TEXT,
    "foreign": FieldType.TEXT,
    "number": FieldType.TEXT,
    "link": FieldType.RELATE,
    "linkOne": FieldType.RELATE,
    "linkParent": FieldType.RELATE,
    "linkMultiple": FieldType.RELATE,
}
#: Types computed by the server.
READ_ONLY_TYPES = frozenset(
    {"personName", "foreign", "autoincrement", "currencyConverted", "linkOne", "number"}
)
#: Composite types whose parts are fields of their own.
COMPOSITE_TYPES = frozenset({"address"})
HIDDEN_TYPES = frozenset(
    {"map", "attachmentMultiple", "file", "image", "jsonObject", "jsonArray", "password"}
)
ACTIONS = ("create", "read", "edit", "delete")
#: Belongs-to links that only say who created / changed a record: relate fields, not tabs.
SYSTEM_LINKS = frozenset({"createdBy", "modifiedBy"})


@dataclass(slots=True)
class Acl:
    """What ``App/user`` says the signed-in user may do."""

    user_id: str = ""
    team_ids: frozenset[str] = frozenset()
    is_admin: bool = False
    #: scope → action → level ("yes", "all", "team", "own", "no")
    table: dict[str, dict[str, str]] = field(default_factory=dict)
    #: scope → field → {"read": "yes"/"no", "edit": ...}
    field_table: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    known: bool = False

    def scope_levels(self, scope: str, acl_controlled: bool = False) -> dict[str, str] | None:
        """The levels for a scope; an ACL-controlled scope missing from the table is "no"."""
        if not self.known:
            return None
        if self.is_admin:
            return dict.fromkeys(ACTIONS, "all")
        levels = self.table.get(scope)
        if levels is None and acl_controlled:
            return dict.fromkeys(ACTIONS, "no")
        return levels

    def scope_access(self, scope: str, acl_controlled: bool = False) -> frozenset[str] | None:
        levels = self.scope_levels(scope, acl_controlled)
        if levels is None:
            return None
        return frozenset(a for a in ACTIONS if levels.get(a, "no") not in ("no", "", None))

    def record_access(self, scope: str, values: Mapping[str, Any]) -> frozenset[str] | None:
        """Actions allowed on one record: "own" means assigned to (or created by) me."""
        levels = self.scope_levels(scope)
        if levels is None:
            return None
        out: set[str] = set()
        for action in ("read", "edit", "delete"):
            level = levels.get(action, "no")
            if self._allows(level, values):
                out.add(action)
        return frozenset(out)

    def _allows(self, level: str, values: Mapping[str, Any]) -> bool:
        if level in ("all", "yes"):
            return True
        if level == "own":
            return self._owns(values)
        if level == "team":
            return self._owns(values) or self._in_team(values)
        return False

    def _owns(self, values: Mapping[str, Any]) -> bool:
        if not self.user_id:
            return False
        assigned = values.get("assignedUserId")
        if "assignedUserId" in values:
            return assigned == self.user_id
        return values.get("createdById") == self.user_id

    def _in_team(self, values: Mapping[str, Any]) -> bool:
        teams = values.get("teamsIds")
        if isinstance(teams, tuple | list):
            return bool(self.team_ids.intersection(str(t) for t in teams))
        return "teamsIds" not in values  # not loaded: let the server decide

    def field_levels(self, scope: str, name: str) -> Mapping[str, str]:
        if not self.known or self.is_admin:
            return {}
        entry = self.field_table.get(scope, {}).get(name)
        return entry if isinstance(entry, dict) else {}


def parse_acl(app_user: Mapping[str, Any]) -> Acl:
    user = app_user.get("user")
    user = user if isinstance(user, Mapping) else {}
    acl = app_user.get("acl")
    acl = acl if isinstance(acl, Mapping) else {}
    table: dict[str, dict[str, str]] = {}
    raw_table = acl.get("table")
    if isinstance(raw_table, Mapping):
        for scope, levels in raw_table.items():
            if scope.startswith("__"):
                continue
            if isinstance(levels, Mapping):
                table[scope] = {str(k): str(v) for k, v in levels.items()}
            elif levels is True:
                table[scope] = dict.fromkeys(ACTIONS, "all")
            elif levels is False:
                table[scope] = dict.fromkeys(ACTIONS, "no")
    field_table: dict[str, dict[str, dict[str, str]]] = {}
    raw_fields = acl.get("fieldTable")
    if isinstance(raw_fields, Mapping):
        for scope, fields in raw_fields.items():
            if not isinstance(fields, Mapping):
                continue
            field_table[scope] = {
                str(f): {str(k): str(v) for k, v in lv.items()}
                for f, lv in fields.items()
                if isinstance(lv, Mapping)
            }
    teams = user.get("teamsIds")
    return Acl(
        user_id=str(user.get("id") or ""),
        team_ids=frozenset(str(t) for t in teams) if isinstance(teams, list) else frozenset(),
        is_admin=user.get("type") in ("admin", "super-admin"),
        table=table,
        field_table=field_table,
        known=isinstance(raw_table, Mapping),
    )


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def scope_label(i18n: Mapping[str, Any], scope: str, plural: bool = True) -> str:
    key = "scopeNamesPlural" if plural else "scopeNames"
    label = _dig(i18n, "Global", key, scope) or _dig(i18n, "Global", "scopeNames", scope)
    return str(label) if label else scope


def module_infos(
    metadata: Mapping[str, Any], i18n: Mapping[str, Any], acl: Acl
) -> list[ModuleInfo]:
    """Browsable entities: ``entity`` scopes that are objects or have a tab, readable by us."""
    scopes = metadata.get("scopes")
    out: list[ModuleInfo] = []
    if not isinstance(scopes, Mapping):
        return out
    for name, scope in scopes.items():
        if not isinstance(scope, Mapping) or not scope.get("entity"):
            continue
        if scope.get("disabled"):
            continue
        if not (scope.get("object") or scope.get("tab")):
            continue
        access = acl.scope_access(name, acl_controlled=bool(scope.get("acl")))
        if access is not None and "read" not in access:
            continue
        out.append(
            ModuleInfo(
                name=name,
                label=scope_label(i18n, name),
                entity=True,
                custom=bool(scope.get("isCustom")),
                access=access,
            )
        )
    out.sort(key=lambda m: m.label.lower())
    return out


def _options(
    scope: str,
    fname: str,
    fmeta: Mapping[str, Any],
    metadata: Mapping[str, Any],
    i18n: Mapping[str, Any],
    currencies: tuple[str, ...],
) -> tuple[tuple[Option, ...], bool]:
    """(options without the "none" entry, whether the list had "" as "none")."""
    raw = fmeta.get("options")
    src_scope, src_field = scope, fname
    ref = fmeta.get("optionsReference")
    if not isinstance(raw, list) and isinstance(ref, str) and "." in ref:
        src_scope, src_field = ref.split(".", 1)
        raw = _dig(metadata, "entityDefs", src_scope, "fields", src_field, "options")
    if not isinstance(raw, list) and fname.endswith("Currency") and currencies:
        raw = list(currencies)
    if not isinstance(raw, list):
        return (), False
    labels = _dig(i18n, src_scope, "options", src_field)
    if not isinstance(labels, Mapping):
        labels = _dig(i18n, "Global", "options", src_field)
    labels = labels if isinstance(labels, Mapping) else {}
    opts = tuple(
        Option(str(v), str(labels.get(str(v)) or v)) for v in raw if v is not None and v != ""
    )
    return opts, "" in raw


def field_label(i18n: Mapping[str, Any], scope: str, fname: str) -> str:
    label = _dig(i18n, scope, "fields", fname) or _dig(i18n, "Global", "fields", fname)
    if label:
        return str(label)
    # camelCase → words
    words: list[str] = []
    for ch in fname:
        if ch.isupper() and words:
            words.append(" ")
        words.append(ch)
    return "".join(words).capitalize()


def _link_target(fname: str, fmeta: Mapping[str, Any], links: Mapping[str, Any]) -> str | None:
    if isinstance(fmeta.get("entity"), str):
        return str(fmeta["entity"])
    link = links.get(fname)
    if isinstance(link, Mapping) and isinstance(link.get("entity"), str):
        return str(link["entity"])
    return None


def field_defs(
    scope: str,
    metadata: Mapping[str, Any],
    i18n: Mapping[str, Any],
    acl: Acl,
    currencies: tuple[str, ...] = (),
    default_currency: str | None = None,
) -> tuple[tuple[FieldDef, ...], frozenset[str]]:
    """FieldDefs for one entity, and the names of enums whose options include "" ("none")."""
    edefs = _dig(metadata, "entityDefs", scope)
    fields_meta = edefs.get("fields") if isinstance(edefs, Mapping) else None
    links = edefs.get("links") if isinstance(edefs, Mapping) else None
    fields_meta = fields_meta if isinstance(fields_meta, Mapping) else {}
    links = links if isinstance(links, Mapping) else {}
    out: list[FieldDef] = [
        FieldDef("id", "ID", FieldType.ID, read_only=True, visible=False, native_type="id")
    ]
    empty_enums: set[str] = set()
    for fname, fmeta in fields_meta.items():
        if not isinstance(fmeta, Mapping) or fmeta.get("disabled"):
            continue
        native = str(fmeta.get("type") or "")
        if native in COMPOSITE_TYPES or fname == "id":
            continue
        acl_levels = acl.field_levels(scope, fname)
        if acl_levels.get("read") == "no":
            continue  # the server removes the attribute from every answer
        ftype = TYPE_MAP.get(native, FieldType.UNKNOWN)
        label = field_label(i18n, scope, fname)
        not_storable = bool(fmeta.get("notStorable"))
        read_only = (
            bool(fmeta.get("readOnly"))
            or native in READ_ONLY_TYPES
            or ftype is FieldType.UNKNOWN
            or acl_levels.get("edit") == "no"
        )
        hidden = (
            bool(fmeta.get("utility"))
            or bool(fmeta.get("layoutDetailDisabled"))
            or native in HIDDEN_TYPES
        )
        max_len = fmeta.get("maxLength")
        common: dict[str, Any] = {
            "label": label,
            "required": bool(fmeta.get("required")),
            "length": parse_length(max_len),
            "default": fmeta.get("default"),
            "custom": bool(fmeta.get("isCustom")),
            "filterable": not not_storable,
            "sortable": not not_storable and not fmeta.get("orderDisabled"),
            "visible": not hidden,
            "native_type": native,
        }
        if ftype is FieldType.RELATE:
            target = _link_target(fname, fmeta, links)
            if native == "linkMultiple":
                out.append(
                    FieldDef(
                        name=f"{fname}Ids",
                        type=FieldType.RELATE,
                        read_only=True,
                        relate_module=target,
                        relate_name_field=f"{fname}Names",
                        **{**common, "sortable": False},
                    )
                )
            else:
                out.append(
                    FieldDef(
                        name=f"{fname}Id",
                        type=FieldType.RELATE,
                        read_only=read_only or native == "linkParent",
                        relate_module=None if native == "linkParent" else target,
                        relate_name_field=f"{fname}Name",
                        **common,
                    )
                )
            continue
        options: tuple[Option, ...] = ()
        if ftype in (FieldType.ENUM, FieldType.MULTIENUM):
            options, has_empty = _options(scope, fname, fmeta, metadata, i18n, currencies)
            if has_empty:
                empty_enums.add(fname)
        out.append(
            FieldDef(
                name=fname,
                type=ftype,
                read_only=read_only,
                options=options,
                currency=default_currency if ftype is FieldType.CURRENCY else None,
                **common,
            )
        )
    return tuple(out), frozenset(empty_enums)


def link_defs(
    scope: str, metadata: Mapping[str, Any], i18n: Mapping[str, Any]
) -> tuple[LinkDef, ...]:
    links = _dig(metadata, "entityDefs", scope, "links")
    if not isinstance(links, Mapping):
        return ()
    out: list[LinkDef] = []
    for name, link in links.items():
        if not isinstance(link, Mapping) or link.get("disabled"):
            continue
        if link.get("layoutRelationshipsDisabled") or name in SYSTEM_LINKS:
            continue
        target = link.get("entity")
        kind = link.get("type")
        if not isinstance(target, str) or kind not in (
            "hasMany",
            "hasChildren",
            "manyMany",
            "belongsTo",
            "hasOne",
        ):
            continue
        label = (
            _dig(i18n, scope, "links", name)
            or _dig(i18n, "Global", "links", name)
            or field_label(i18n, scope, name)  # a belongs-to link is also a field; else words
        )
        card = Cardinality.ONE if kind in ("belongsTo", "hasOne") else Cardinality.MANY
        out.append(
            LinkDef(
                name=name,
                label=str(label),
                target_module=target,
                cardinality=card,
                relationship=str(link.get("relationName") or ""),
            )
        )
    return tuple(out)


def _layout_names(
    names: list[str], fdefs: Mapping[str, FieldDef], fields_meta: Mapping[str, Any]
) -> list[str]:
    """Layout cell names (EspoCRM field names) → our field names (attributes)."""
    out: list[str] = []
    for name in names:
        if name in fdefs:
            out.append(name)
            continue
        native = _dig(fields_meta, name, "type")
        if native == "address":
            out.extend(
                p
                for p in (f"{name}Street", f"{name}City", f"{name}PostalCode", f"{name}State",
                          f"{name}Country")
                if p in fdefs
            )  # fmt: skip
        elif f"{name}Id" in fdefs:
            out.append(f"{name}Id")
        elif f"{name}Ids" in fdefs:
            out.append(f"{name}Ids")
    return out


def list_layout(
    raw: Any, fdefs: Mapping[str, FieldDef], fields_meta: Mapping[str, Any]
) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    names = [str(c["name"]) for c in raw if isinstance(c, Mapping) and c.get("name")]
    return tuple(_layout_names(names, fdefs, fields_meta))


def detail_layout(
    raw: Any, fdefs: Mapping[str, FieldDef], fields_meta: Mapping[str, Any]
) -> tuple[Section, ...]:
    if not isinstance(raw, list):
        return ()
    out: list[Section] = []
    for panel in raw:
        if not isinstance(panel, Mapping):
            continue
        names: list[str] = []
        rows = panel.get("rows")
        for row in rows if isinstance(rows, list) else []:
            for cell in row if isinstance(row, list) else []:
                if isinstance(cell, Mapping) and cell.get("name"):
                    names.append(str(cell["name"]))
        fields = _layout_names(names, fdefs, fields_meta)
        if fields:
            out.append(
                Section(str(panel.get("label") or panel.get("customLabel") or ""), tuple(fields))
            )
    return tuple(out)


def module_def(
    scope: str,
    metadata: Mapping[str, Any],
    i18n: Mapping[str, Any],
    acl: Acl,
    *,
    list_raw: Any = None,
    detail_raw: Any = None,
    currencies: tuple[str, ...] = (),
    default_currency: str | None = None,
) -> tuple[ModuleDef, frozenset[str]]:
    """The ModuleDef of one entity, plus the enums that take "" for "none"."""
    edefs = _dig(metadata, "entityDefs", scope)
    edefs = edefs if isinstance(edefs, Mapping) else {}
    fields_meta = edefs.get("fields")
    fields_meta = fields_meta if isinstance(fields_meta, Mapping) else {}
    fdefs, empty_enums = field_defs(scope, metadata, i18n, acl, currencies, default_currency)
    index = {f.name: f for f in fdefs}
    scope_meta = _dig(metadata, "scopes", scope)
    scope_meta = scope_meta if isinstance(scope_meta, Mapping) else {}
    mdef = ModuleDef(
        name=scope,
        label=scope_label(i18n, scope),
        fields=fdefs,
        links=link_defs(scope, metadata, i18n),
        list_fields=list_layout(list_raw, index, fields_meta),
        layout=detail_layout(detail_raw, index, fields_meta),
        name_field="name" if "name" in index else next(iter(index), "id"),
        entity=bool(scope_meta.get("entity", True)),
        custom=bool(scope_meta.get("isCustom")),
        raw=edefs,
    )
    return mdef, empty_enums
