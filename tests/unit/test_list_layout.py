"""The list layout file (columns chosen per profile and module) and the choice logic."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from crmdesk.core.schema import FieldDef, FieldType, ModuleDef
from crmdesk.storage import paths
from crmdesk.storage.list_layout import FILENAME, ListLayout, ListLayoutStore
from crmdesk.ui.views.columns import chosen_columns, labels, listable, menu_order

LOG = "crmdesk.storage.list_layout"


def test_round_trip_per_profile_and_module(tmp_path: Path) -> None:
    store = ListLayoutStore(tmp_path)
    assert store.get("Sales", "Accounts") is None
    store.save("Sales", "Accounts", ListLayout(("name", "phone"), {"name": 240}))
    store.save("Sales", "Contacts", ListLayout(("last_name",)))
    store.save("Support", "Accounts", ListLayout((), {"name": 90}))
    again = ListLayoutStore(tmp_path)  # a new start of the app
    assert again.get("Sales", "Accounts") == ListLayout(("name", "phone"), {"name": 240})
    assert again.get("Sales", "Contacts") == ListLayout(("last_name",), {})
    assert again.get("Support", "Accounts") == ListLayout((), {"name": 90})
    assert again.get("Support", "Contacts") is None
    data = json.loads((tmp_path / FILENAME).read_text(encoding="utf-8"))
    assert data == {
        "format": 1,
        "layouts": {
            "Sales": {
                "Accounts": {"fields": ["name", "phone"], "widths": {"name": 240}},
                "Contacts": {"fields": ["last_name"]},
            },
            "Support": {"Accounts": {"widths": {"name": 90}}},
        },
    }
    if os.name == "posix":
        assert (tmp_path / FILENAME).stat().st_mode & 0o077 == 0


def test_an_empty_layout_forgets(tmp_path: Path) -> None:
    store = ListLayoutStore(tmp_path)
    store.save("Sales", "Accounts", ListLayout(("name",)))
    store.forget("Sales", "Accounts")
    assert store.get("Sales", "Accounts") is None
    assert json.loads((tmp_path / FILENAME).read_text())["layouts"] == {}
    store.forget("Nobody", "Nothing")  # nothing to forget: fine


def test_the_config_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.CONFIG_ENV, str(tmp_path / "cfg"))
    store = ListLayoutStore()
    store.save("P", "M", ListLayout(("a",)))
    assert (tmp_path / "cfg" / FILENAME).exists()


@pytest.mark.parametrize(
    "text",
    [
        '{"format": 1, "layouts": {"Sales": {"Accounts": [',  # cut off
        "[1, 2, 3]",
        '{"layouts": "no"}',
        "\xff\xfe{",  # not UTF-8
        "",
    ],
)
def test_a_garbled_file_is_ignored_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    (tmp_path / FILENAME).write_text(text, encoding="latin-1")
    store = ListLayoutStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger=LOG):
        assert store.get("Sales", "Accounts") is None
    assert any("ignoring the list layouts" in r.getMessage() for r in caplog.records)
    # The next save replaces it with a good file.
    store.save("Sales", "Accounts", ListLayout(("name",)))
    assert ListLayoutStore(tmp_path).get("Sales", "Accounts") == ListLayout(("name",), {})


def test_bad_entries_are_skipped_and_the_rest_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layouts = {
        "Sales": {
            "Accounts": {"fields": ["name", 7]},  # not names: skipped
            "Contacts": {"fields": ["last_name", "last_name", "email"], "future": True},
            "Leads": {"widths": {"name": 5, "phone": 140, "fax": "wide", "ok": True}},
            "Tasks": "nonsense",
        },
        "Support": ["not", "an", "object"],
    }
    (tmp_path / FILENAME).write_text(json.dumps({"format": 1, "layouts": layouts}))
    store = ListLayoutStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger=LOG):
        assert store.get("Sales", "Accounts") is None
    assert store.get("Sales", "Contacts") == ListLayout(("last_name", "email"), {})
    assert store.get("Sales", "Leads") == ListLayout((), {"phone": 140})  # sane widths only
    assert store.get("Sales", "Tasks") is None
    assert store.get("Support", "Accounts") is None
    skipped = [r.getMessage() for r in caplog.records]
    assert any("'Sales' / 'Accounts'" in m for m in skipped)
    assert any("'Support'" in m for m in skipped)


def test_a_change_by_another_window_is_seen_and_not_undone(tmp_path: Path) -> None:
    one, two = ListLayoutStore(tmp_path), ListLayoutStore(tmp_path)
    one.save("Sales", "Accounts", ListLayout(("name",)))
    assert two.get("Sales", "Accounts") == ListLayout(("name",), {})
    two.save("Sales", "Contacts", ListLayout(("email",)))
    one.save("Sales", "Accounts", ListLayout(("name", "phone")))  # keeps two's Contacts
    three = ListLayoutStore(tmp_path)
    assert three.get("Sales", "Contacts") == ListLayout(("email",), {})
    assert three.get("Sales", "Accounts") == ListLayout(("name", "phone"), {})
    assert one.get("Sales", "Contacts") == ListLayout(("email",), {})


def test_a_failed_write_leaves_the_old_file_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ListLayoutStore(tmp_path)
    store.save("Sales", "Accounts", ListLayout(("name",)))
    before = (tmp_path / FILENAME).read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        store.save("Sales", "Contacts", ListLayout(("email",)))
    monkeypatch.undo()
    assert (tmp_path / FILENAME).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]


# -- the choice --------------------------------------------------------------------------
def _f(name: str, label: str, ftype: FieldType = FieldType.TEXT, **kw: object) -> FieldDef:
    return FieldDef(name, label, ftype, **kw)  # type: ignore[arg-type]


MDEF = ModuleDef(
    "Accounts",
    "Accounts",
    (
        _f("id", "ID", FieldType.ID),
        _f("name", "Name"),
        _f("phone", "Phone", FieldType.PHONE),
        _f("fax", "Fax", FieldType.PHONE),
        _f("city", "City"),
        _f("deleted", "Deleted", FieldType.BOOL, visible=False),
        _f("billing_city", "city"),
    ),
    list_fields=("name", "fax"),
)


def test_menu_order_shown_first_then_the_rest_by_label_without_internals() -> None:
    order = [f.name for f in menu_order(MDEF, ("fax", "name"))]
    assert order == ["fax", "name", "billing_city", "city", "phone"]  # same label: by name
    assert not listable(MDEF.field("id"))  # type: ignore[arg-type]
    assert not listable(MDEF.field("deleted"))  # type: ignore[arg-type]
    # A shown column the CRM hides still shows (checked) so it can be dropped.
    assert next(f.name for f in menu_order(MDEF, ("deleted",))) == "deleted"


def test_labels_name_the_field_where_two_share_a_label() -> None:
    assert labels(MDEF.fields)["city"] == "City (city)"
    assert labels(MDEF.fields)["billing_city"] == "city (billing_city)"
    assert labels(MDEF.fields)["phone"] == "Phone"


def test_chosen_columns_skip_vanished_fields_and_fall_back_to_the_crm() -> None:
    crm = ("name", "fax")
    assert [f.name for f in chosen_columns(MDEF, None)] == list(crm)
    assert [f.name for f in chosen_columns(MDEF, ListLayout((), {"name": 90}))] == list(crm)
    gone = ListLayout(("phone", "gone_c", "name"))
    assert [f.name for f in chosen_columns(MDEF, gone)] == ["phone", "name"]
    assert [f.name for f in chosen_columns(MDEF, ListLayout(("gone_c",)))] == list(crm)
