"""EspoCRM "Skip totals": a checkbox in the connect dialog for EspoCRM profiles (option
``no_total``), and a list on the demo EspoCRM that then says "100 rows, more…" instead of a
total, because the adapter sends ``X-No-Total``."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.memory_keyring import MemoryKeyring, use_keyring
from helpers.qasync_loop import AsyncDriver
from pytestqt.qtbot import QtBot

from crmdesk.backends import open_backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.storage.signin import flags_for
from crmdesk.ui.connect import ConnectDialog
from crmdesk.ui.workspace import Workspace

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture(autouse=True)
def _collect_here() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConnectionStore]:
    with use_keyring(MemoryKeyring()):
        yield ConnectionStore(ProfileStore(tmp_path), SecretStore())


def flag_shown(dlg: ConnectDialog) -> bool:
    return not dlg.flag_checks["no_total"].isHidden()


def test_the_checkbox_is_offered_for_espocrm_only(
    qtbot: QtBot, aio: AsyncDriver, store: ConnectionStore
) -> None:
    assert [f.key for f in flags_for("espocrm")] == ["no_total"]
    dlg = ConnectDialog(store)
    qtbot.addWidget(dlg)
    dlg.show()
    for kind in ("suitecrm", "sugarcrm", "vtiger", "espocrm"):
        dlg.kind_combo.setCurrentIndex(dlg.kind_combo.findData(kind))
        assert flag_shown(dlg) is (kind == "espocrm"), kind
    check = dlg.flag_checks["no_total"]
    assert "X-No-Total" in check.toolTip()
    dlg.name_edit.setText("Espo big")
    dlg.url_edit.setText("https://espo.example.com")
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("api_key"))
    dlg.field("api_key").setText("k-123")  # type: ignore[union-attr]
    assert "no_total" not in dlg.collect()[0].options
    check.setChecked(True)
    assert dlg.collect()[0].options["no_total"] == "true"
    # Another kind never carries the EspoCRM option along.
    dlg.kind_combo.setCurrentIndex(dlg.kind_combo.findData("vtiger"))
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("rest"))
    dlg.field("username").setText("admin")  # type: ignore[union-attr]
    dlg.field("access_key").setText("k-456")  # type: ignore[union-attr]
    assert "no_total" not in dlg.collect()[0].options


def test_a_saved_profile_brings_its_choice_back(
    qtbot: QtBot, aio: AsyncDriver, store: ConnectionStore
) -> None:
    on = ConnectionProfile(
        "On", "espocrm", "https://a.example.com", "api_key", options={"no_total": "true"}
    )
    off = ConnectionProfile("Off", "espocrm", "https://b.example.com", "api_key")
    store.save(on, Secrets(api_key="key-a-123"), remember=True)
    store.save(off, Secrets(api_key="key-b-456"), remember=True)
    dlg = ConnectDialog(store, select="On")
    qtbot.addWidget(dlg)
    dlg.show()
    assert flag_shown(dlg)
    assert dlg.flag_checks["no_total"].isChecked()
    dlg.flag_checks["no_total"].setChecked(False)
    assert "no_total" not in dlg.collect()[0].options  # unticking removes it
    rows = [dlg.profile_list.item(i).text() for i in range(dlg.profile_list.count())]
    dlg.profile_list.setCurrentRow(next(i for i, t in enumerate(rows) if t.startswith("Off")))
    assert dlg.name_edit.text() == "Off"
    assert not dlg.flag_checks["no_total"].isChecked()
    dlg.new_profile()
    assert not dlg.flag_checks["no_total"].isChecked()


def _rows_text(
    profile: ConnectionProfile, demo: DemoServer, aio: AsyncDriver, qtbot: QtBot
) -> tuple[str, int | None]:
    be = open_backend(profile, demo.secrets("espocrm"))
    aio.run(be.connect(), timeout=20)
    ws = Workspace(be, page_size=100)
    qtbot.addWidget(ws)
    ws.show()
    try:
        ws.start()
        aio.wait_until(lambda: ws.modules.rowCount() > 0, timeout=20)
        ws.browser.open_module("Account")
        aio.wait_until(lambda: ws.records.rowCount() >= 100 and not ws.records.loading, timeout=20)
        return ws.rows_text(), ws.records.total
    finally:
        ws.runner.cancel_all()
        aio.run(be.close(), timeout=20)


def test_status_says_more_instead_of_a_total(
    demo_server: DemoServer, aio: AsyncDriver, qtbot: QtBot
) -> None:
    plain = demo_server.profile("espocrm")
    text, total = _rows_text(plain, demo_server, aio, qtbot)
    assert total is not None
    assert total > 100
    assert text == f"100 / {total:,} rows"
    skipping = dataclasses.replace(plain, options={**plain.options, "no_total": "true"})
    text, total = _rows_text(skipping, demo_server, aio, qtbot)
    assert total is None
    assert text == "100 rows, more…"
