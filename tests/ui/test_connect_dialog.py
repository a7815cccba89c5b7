"""The connect dialog against the demo CRM: test connection, save, keyring, TLS, keyboard."""

from __future__ import annotations

import gc
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import keyring.backends.fail
import pytest
from helpers.memory_keyring import MemoryKeyring, use_keyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.registry import LABELS
from crmdesk.demo.server import DIALECT_APPS, DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import FILENAME, ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.storage.signin import METHODS, Where
from crmdesk.ui.connect import ConnectDialog

TEST_TIMEOUT_MS = 15_000

# The offscreen platform cannot pass size hints on; the layouts try whenever fields change.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def _method_params() -> list[object]:
    """Every sign-in method the dialog offers; a kind the demo server does not host yet is an
    explicit (strict) xfail, so it turns into a real test the day its demo app lands."""
    params: list[object] = []
    for spec in METHODS:
        marks = []
        if spec.dialect not in DIALECT_APPS:
            marks.append(
                pytest.mark.xfail(
                    reason=f"the demo server does not host {spec.dialect} yet", strict=True
                )
            )
        params.append(
            pytest.param(spec.dialect, spec.key, marks=marks, id=f"{spec.dialect}-{spec.key}")
        )
    return params


@pytest.fixture(autouse=True)
def _qt_garbage_dies_on_the_main_thread() -> Iterator[None]:
    """Collect this test's cyclic garbage (the qasync loop's timer object, dialogs) here.

    Left to chance, Python's GC may run in a worker thread of the demo server and destroy a
    QObject there; Qt then cannot unregister its timers and a later timer event lands on
    freed memory (a segfault in QTimerInfoList::activateTimers).  Autouse fixtures tear
    down last, i.e. after the qasync loop is closed.
    """
    yield
    gc.collect()


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    kr = MemoryKeyring()
    with use_keyring(kr):
        yield kr


@pytest.fixture
def store(tmp_path: Path, memory: MemoryKeyring) -> ConnectionStore:
    return ConnectionStore(ProfileStore(tmp_path), SecretStore())


@pytest.fixture
def dialog(qtbot: QtBot, aio: AsyncDriver, store: ConnectionStore) -> Iterator[ConnectDialog]:
    dlg = ConnectDialog(store)
    qtbot.addWidget(dlg)
    dlg.show()
    yield dlg
    dlg.cancel_test()


def fill(dlg: ConnectDialog, profile: ConnectionProfile, secrets: Secrets) -> None:
    """Type a profile into the form the way a user would pick and fill the fields."""
    dlg.kind_combo.setCurrentIndex(dlg.kind_combo.findData(profile.dialect))
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData(profile.auth))
    dlg.name_edit.setText(profile.name)
    dlg.url_edit.setText(profile.base_url)
    values = {"username": profile.username, **dict(profile.options), **dict(secrets)}
    for key, edit in dlg._field_edits.items():
        if key in values:
            edit.setText(values[key])


def run_test(qtbot: QtBot, dlg: ConnectDialog) -> tuple[bool, str]:
    with qtbot.waitSignal(dlg.test_finished, timeout=TEST_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dlg.test_button, Qt.MouseButton.LeftButton)
    ok, text = blocker.args
    assert dlg.isVisible(), "testing must never close the dialog"
    assert dlg.result_label.text() == text
    return bool(ok), str(text)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- what the form offers ------------------------------------------------------------------
def test_kinds_and_methods_follow_the_registry_and_the_kind(dialog: ConnectDialog) -> None:
    kinds = [dialog.kind_combo.itemText(i) for i in range(dialog.kind_combo.count())]
    assert kinds == list(LABELS.values())
    offered: dict[str, list[str]] = {}
    for i in range(dialog.kind_combo.count()):
        dialog.kind_combo.setCurrentIndex(i)
        kind = str(dialog.kind_combo.currentData())
        offered[kind] = [
            str(dialog.method_combo.itemData(j)) for j in range(dialog.method_combo.count())
        ]
    assert offered == {
        "suitecrm": ["password", "client_credentials", "authorization_code"],
        "sugarcrm": ["password"],
        "espocrm": ["api_key", "hmac", "password"],
        "vtiger": ["rest", "webservice"],
    }


def test_secret_fields_are_masked_and_sugar_explains_its_platform(dialog: ConnectDialog) -> None:
    for spec in METHODS:
        dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(spec.dialect))
        dialog.method_combo.setCurrentIndex(dialog.method_combo.findData(spec.key))
        for fspec in spec.fields:
            edit = dialog.field(fspec.key)
            assert edit is not None, (spec.key, fspec.key)
            secret = fspec.where is Where.SECRET
            assert (edit.echoMode() == QLineEdit.EchoMode.Password) is secret, fspec.key
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("sugarcrm"))
    platform = dialog.field("platform")
    assert platform is not None
    assert platform.text() == "crmdesk"
    help_label = dialog.findChild(QLabel, "help_platform")
    assert help_label is not None
    assert "sign you out" in help_label.text()
    assert help_label.textFormat() == Qt.TextFormat.PlainText


def test_every_field_has_a_label_with_a_buddy(dialog: ConnectDialog) -> None:
    """Keyboard access: each input is reachable with Tab and named by its label."""
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("suitecrm"))
    buddies = {label.buddy() for label in dialog.findChildren(QLabel) if label.buddy()}
    for edit in dialog.findChildren(QLineEdit):
        if not edit.isVisibleTo(dialog) or edit.objectName().startswith("qt_"):
            continue  # a spin box's inner edit: the spin box itself has the label
        assert edit in buddies, edit.objectName()
        assert edit.focusPolicy() & Qt.FocusPolicy.TabFocus


# -- test connection -----------------------------------------------------------------------
@pytest.mark.parametrize(("dialect", "auth"), _method_params())
def test_test_connection_succeeds_for_every_method(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer, dialect: str, auth: str
) -> None:
    secrets = demo_server.secrets(dialect, auth)
    fill(dialog, demo_server.profile(dialect, auth), secrets)
    ok, text = run_test(qtbot, dialog)
    assert ok, text
    assert "Connected. Found" in text
    assert "modules" in text
    assert not dialog.progress.isVisible()
    assert dialog.test_button.isEnabled()
    # testing saves nothing
    assert not (Path(dialog.store.profiles.path)).exists()


def test_wrong_password_says_so_without_the_password(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer
) -> None:
    wrong = "Wr0ng-pass-XyZ-4711"
    fill(dialog, demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    field = dialog.field("password")
    assert field is not None
    field.setText(wrong)
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert text.startswith("Sign-in refused")
    assert "Check the user name, password" in text
    assert wrong not in text


def test_wrong_path_is_reported_as_not_found(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer
) -> None:
    profile = demo_server.profile("suitecrm")
    fill(dialog, profile, demo_server.secrets("suitecrm"))
    dialog.url_edit.setText(demo_server.url + "/not-the-crm")
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert text.startswith("Not found — is the base URL right?")
    assert "404" in text


def test_html_answer_is_reported_as_plain_text(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer
) -> None:
    demo_server.faults.inject(r"/suitecrm/Api/V8/meta/modules$", "html", times=None)
    fill(dialog, demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert text.startswith("The server did not answer like the CRM's API")
    assert "HTML page instead of JSON" in text
    assert dialog.result_label.textFormat() == Qt.TextFormat.PlainText


def test_nobody_listening_is_reported(qtbot: QtBot, dialog: ConnectDialog) -> None:
    profile = ConnectionProfile(
        "Nowhere",
        "espocrm",
        f"http://127.0.0.1:{_closed_port()}",
        "api_key",
        connect_timeout=2.0,
    )
    fill(dialog, profile, Secrets(api_key="k-nowhere-123"))
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert text.startswith("Cannot reach the CRM")
    assert "Could not connect to 127.0.0.1" in text


def test_a_slow_test_shows_progress_and_can_be_cancelled(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer
) -> None:
    demo_server.faults.inject(r"/suitecrm/.*access_token$", "delay:20", times=None)
    fill(dialog, demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert dialog.testing()
    assert dialog.progress.isVisible()
    assert dialog.cancel_test_button.isVisible()
    assert not dialog.test_button.isEnabled()
    qtbot.wait(200)  # the loop keeps turning while the request hangs
    assert dialog.testing()
    with qtbot.waitSignal(dialog.test_finished, timeout=3000) as blocker:
        qtbot.mouseClick(dialog.cancel_test_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [False, "Test cancelled."]
    assert not dialog.testing()
    assert not dialog.progress.isVisible()
    assert dialog.test_button.isEnabled()


def test_escape_during_a_test_cancels_it_and_keeps_the_dialog(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer
) -> None:
    demo_server.faults.inject(r"/suitecrm/.*access_token$", "delay:20", times=None)
    fill(dialog, demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    dialog.start_test()
    with qtbot.waitSignal(dialog.test_finished, timeout=3000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible()
    assert dialog.result_label.text() == "Test cancelled."


def test_ctrl_t_starts_a_test(qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer) -> None:
    fill(dialog, demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    dialog.activateWindow()
    with qtbot.waitSignal(dialog.test_finished, timeout=TEST_TIMEOUT_MS) as blocker:
        qtbot.keyClick(dialog.url_edit, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args[0] is True


def test_missing_fields_are_named_and_focused(qtbot: QtBot, dialog: ConnectDialog) -> None:
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("espocrm"))
    dialog.method_combo.setCurrentIndex(dialog.method_combo.findData("hmac"))
    dialog.url_edit.setText("ftp://crm.example.com")
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert "must start with http:// or https://" in text
    qtbot.waitUntil(dialog.url_edit.hasFocus)

    dialog.url_edit.setText("https://crm.example.com")
    api_key = dialog.field("api_key")
    assert api_key is not None
    api_key.setText("some-api-key")
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert "Secret key is needed" in text
    secret_key = dialog.field("secret_key")
    assert secret_key is not None
    qtbot.waitUntil(secret_key.hasFocus)


# -- TLS -----------------------------------------------------------------------------------
def test_turning_tls_off_needs_confirmation_and_shows_a_warning(dialog: ConnectDialog) -> None:
    asked: list[str] = []

    def refuse(_parent: object, title: str, _text: str) -> bool:
        asked.append(title)
        return False

    dialog.ask = refuse
    dialog.verify_check.setChecked(False)
    assert asked == ["Turn off certificate verification?"]
    assert dialog.verify_check.isChecked()
    assert not dialog.tls_warning.isVisible()

    dialog.ask = lambda *_: True
    dialog.verify_check.setChecked(False)
    assert not dialog.verify_check.isChecked()
    assert dialog.tls_warning.isVisible()
    assert "anyone on the network path" in dialog.tls_warning.text()
    assert not dialog.ca_edit.isEnabled()


# -- saving --------------------------------------------------------------------------------
def test_ok_saves_profile_and_remembered_secrets(
    qtbot: QtBot,
    dialog: ConnectDialog,
    demo_server: DemoServer,
    memory: MemoryKeyring,
    tmp_path: Path,
) -> None:
    profile = demo_server.profile("suitecrm")
    secrets = demo_server.secrets("suitecrm")
    fill(dialog, profile, secrets)
    dialog.page_size.setValue(50)
    assert dialog.remember_check.isChecked()
    with qtbot.waitSignal(dialog.connection_ready) as blocker:
        qtbot.mouseClick(
            dialog.button_box.button(dialog.button_box.StandardButton.Ok),
            Qt.MouseButton.LeftButton,
        )
    got_profile, got_secrets = blocker.args
    assert got_profile.name == profile.name
    assert got_profile.base_url == profile.base_url
    assert got_profile.page_size == 50
    assert dict(got_profile.options) == dict(profile.options)
    assert dict(got_secrets) == dict(secrets)
    assert dialog.result() == dialog.DialogCode.Accepted

    text = (tmp_path / FILENAME).read_text(encoding="utf-8")
    assert json.loads(text)["profiles"][0]["name"] == profile.name
    for value in secrets.values():
        assert value not in text
    assert memory.entries == {
        (f"crmdesk:{profile.name}", key): value for key, value in secrets.items()
    }


def test_a_saved_profile_comes_back_with_its_secrets(
    qtbot: QtBot, aio: AsyncDriver, store: ConnectionStore, demo_server: DemoServer
) -> None:
    profile = demo_server.profile("suitecrm")
    store.save(profile, demo_server.secrets("suitecrm"), remember=True)
    dlg = ConnectDialog(store, select=profile.name)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.name_edit.text() == profile.name
    assert dlg.url_edit.text() == profile.base_url
    assert dlg.field("password").text() == demo_server.secrets("suitecrm")["password"]  # type: ignore[union-attr]
    ok, text = run_test(qtbot, dlg)
    assert ok, text


def test_not_remembering_keeps_secrets_out_of_the_keyring(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer, memory: MemoryKeyring
) -> None:
    fill(dialog, demo_server.profile("suitecrm"), demo_server.secrets("suitecrm"))
    dialog.remember_check.setChecked(False)
    with qtbot.waitSignal(dialog.connection_ready) as blocker:
        dialog.save_and_connect()
    assert dict(blocker.args[1]) == dict(demo_server.secrets("suitecrm"))
    assert memory.entries == {}
    saved = dialog.store.profiles.get(demo_server.profile("suitecrm").name)
    assert saved is not None
    assert saved.remember_secrets is False


def test_delete_removes_the_profile_and_its_secrets(
    qtbot: QtBot, aio: AsyncDriver, store: ConnectionStore, memory: MemoryKeyring
) -> None:
    a = ConnectionProfile("A", "espocrm", "https://a.example.com", "api_key")
    b = ConnectionProfile("B", "espocrm", "https://b.example.com", "api_key")
    store.save(a, Secrets(api_key="key-of-a-123"), remember=True)
    store.save(b, Secrets(api_key="key-of-b-456"), remember=True)
    dlg = ConnectDialog(store, select="A")
    qtbot.addWidget(dlg)
    dlg.ask = lambda *_: True
    qtbot.mouseClick(dlg.delete_button, Qt.MouseButton.LeftButton)
    assert store.profiles.names() == ["B"]
    assert memory.services() == {"crmdesk:B"}
    assert [dlg.profile_list.item(i).text() for i in range(dlg.profile_list.count())] == ["B"]


def test_without_a_keyring_the_dialog_says_so_and_stores_nothing(
    qtbot: QtBot, aio: AsyncDriver, tmp_path: Path, demo_server: DemoServer
) -> None:
    with use_keyring(keyring.backends.fail.Keyring()):
        store = ConnectionStore(ProfileStore(tmp_path), SecretStore())
        dlg = ConnectDialog(store)
        qtbot.addWidget(dlg)
        dlg.show()
        assert not dlg.remember_check.isEnabled()
        assert not dlg.remember_check.isChecked()
        assert dlg.keyring_label.isVisible()
        assert "ask for the secrets each time" in dlg.keyring_label.text()
        secrets = demo_server.secrets("suitecrm")
        fill(dlg, demo_server.profile("suitecrm"), secrets)
        with qtbot.waitSignal(dlg.connection_ready) as blocker:
            dlg.save_and_connect()
        assert dict(blocker.args[1]) == dict(secrets)
    blob = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert blob
    for value in secrets.values():
        assert value.encode() not in blob
