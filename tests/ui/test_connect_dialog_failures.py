"""Test connection, failing, for every sign-in method and kind: wrong secret, wrong URL, an
HTML answer, a host name that does not resolve, a TLS certificate that cannot be verified.

Each failure is reported in the dialog (which stays open), as plain text, naming what went
wrong and never containing the secret that was typed.
"""

from __future__ import annotations

import gc
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers.memory_keyring import MemoryKeyring, use_keyring
from helpers.qasync_loop import AsyncDriver
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.demo.server import DemoServer
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.profiles import ProfileStore
from crmdesk.storage.secrets import SecretStore
from crmdesk.storage.signin import METHODS, MethodSpec
from crmdesk.ui.connect import ConnectDialog

TEST_TIMEOUT_MS = 20_000

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

#: Methods a wrong secret can be typed into (the browser sign-in takes no typed secret
#: that decides it: the CRM's own page does).
TYPED = [m for m in METHODS if m.key != "authorization_code"]
KINDS = sorted({m.dialect for m in METHODS})


@pytest.fixture(autouse=True)
def _qt_garbage_dies_on_the_main_thread() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture
def dialog(qtbot: QtBot, aio: AsyncDriver, tmp_path: Path) -> Iterator[ConnectDialog]:
    with use_keyring(MemoryKeyring()):
        dlg = ConnectDialog(ConnectionStore(ProfileStore(tmp_path), SecretStore()))
        qtbot.addWidget(dlg)
        dlg.show()
        yield dlg
        dlg.cancel_test()


def fill(dlg: ConnectDialog, profile: ConnectionProfile, secrets: Secrets) -> None:
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
        dlg.test_button.click()
    ok, text = blocker.args
    assert dlg.isVisible(), "testing must never close the dialog"
    assert dlg.result_label.text() == text
    assert dlg.result_label.textFormat() == Qt.TextFormat.PlainText
    return bool(ok), str(text)


@pytest.mark.parametrize("method", TYPED, ids=[f"{m.dialect}-{m.key}" for m in TYPED])
def test_a_wrong_secret_is_refused_without_showing_it(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer, method: MethodSpec
) -> None:
    # The secret that decides the sign-in: the password where there is one, else the last.
    names = method.secret_names
    key = "password" if "password" in names else names[-1]
    wrong = f"Wr0ng-{key}-Qz7731"
    secrets = demo_server.secrets(method.dialect, method.key)
    fill(dialog, demo_server.profile(method.dialect, method.key), secrets)
    field = dialog.field(key)
    assert field is not None
    field.setText(wrong)
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert wrong not in text
    assert "refused" in text.lower() or "not accepted" in text.lower(), text


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_path_is_reported_as_not_found(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer, kind: str
) -> None:
    fill(dialog, demo_server.profile(kind), demo_server.secrets(kind))
    dialog.url_edit.setText(demo_server.url + "/not-the-crm")
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert "base URL" in text, text


@pytest.mark.parametrize("kind", KINDS)
def test_an_html_answer_is_reported(
    qtbot: QtBot, dialog: ConnectDialog, demo_server: DemoServer, kind: str
) -> None:
    demo_server.faults.inject(rf"^/{kind}/", "html", times=None)
    try:
        fill(dialog, demo_server.profile(kind), demo_server.secrets(kind))
        ok, text = run_test(qtbot, dialog)
    finally:
        demo_server.faults.clear()
    assert not ok
    assert "HTML" in text, text


def test_a_host_name_that_does_not_resolve_is_named(
    qtbot: QtBot, dialog: ConnectDialog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No DNS query leaves the machine: the resolver answers as it does for an unknown name.
    def no_such_host(host: object, *args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    profile = ConnectionProfile(
        "Typo", "espocrm", "http://crm.example-typo.invalid", "api_key", connect_timeout=2.0
    )
    fill(dialog, profile, Secrets(api_key="k-typo-123"))
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert "crm.example-typo.invalid could not be found" in text, text


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[int]:
    """A TLS server on 127.0.0.1 whose certificate nobody trusts; it accepts and closes."""
    from cryptography import x509  # a test dependency (pyproject's test extra)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass  # the client refuses the certificate: that is the point

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_an_untrusted_certificate_is_named(
    qtbot: QtBot, dialog: ConnectDialog, self_signed_server: int
) -> None:
    profile = ConnectionProfile(
        "Self-signed", "espocrm", f"https://127.0.0.1:{self_signed_server}", "api_key"
    )
    fill(dialog, profile, Secrets(api_key="k-tls-123"))
    ok, text = run_test(qtbot, dialog)
    assert not ok
    assert "TLS certificate of 127.0.0.1 could not be verified" in text, text
