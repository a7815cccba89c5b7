"""The connection dialog: profiles on the left, the chosen profile's settings on the right.

Use it window-modal and listen for the result (the dialog is not blocking
the qasync loop that way)::

    dlg = ConnectDialog(ConnectionStore(), parent=window, select="Sales CRM")
    dlg.connection_ready.connect(window.open_connection)   # (ConnectionProfile, Secrets)
    dlg.open()

"Test connection" signs in on the running qasync loop (a cancellable task,
with a busy bar and a Cancel button) and reports what it found or exactly
what went wrong, without closing the dialog.  OK saves the profile, keeps the
secrets in the keyring if the user asked for it, emits
:attr:`ConnectDialog.connection_ready` and closes.  Every text that came from
a server is shown as plain text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from crmdesk.backends import open_backend
from crmdesk.backends.redact import redact
from crmdesk.core.backend import Backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import (
    AuthError,
    ConfigurationError,
    CrmError,
    NotFound,
    PermissionDenied,
    ProtocolError,
    Unavailable,
)
from crmdesk.core.registry import LABELS
from crmdesk.storage.connections import ConnectionStore, SaveOutcome
from crmdesk.storage.profiles import ProfileError, SavedProfile
from crmdesk.storage.signin import FLAGS, METHODS, FieldSpec, MethodSpec, Where, flags_for
from crmdesk.storage.signin import methods_for as _methods_for
from crmdesk.ui.connect.probe import Opener, ProbeResult, check_url, probe
from crmdesk.ui.signin_browser import NO_BROWSER_TEXT, WAITING_TEXT, url_field, watch_browser

log = logging.getLogger(__name__)

#: (title, question) -> True to go ahead.  Replaceable, so tests need no modal box.
Ask = Callable[[QWidget, str, str], bool]

TLS_OFF_WARNING = (
    "TLS certificate verification is off for this connection: anyone on the network path can "
    "read and change what crmdesk sends, including passwords and keys."
)

_HEADLINES: tuple[tuple[type[CrmError], str], ...] = (
    (AuthError, "Sign-in refused"),
    (PermissionDenied, "Access denied"),
    (NotFound, "Not found — is the base URL right?"),
    (ProtocolError, "The server did not answer like the CRM's API"),
    (Unavailable, "Cannot reach the CRM"),
    (ConfigurationError, "These settings cannot work"),
)

_ALL_OPTION_KEYS = frozenset(f.key for m in METHODS for f in m.fields if f.where is Where.OPTION)


def ask_yes_no(parent: QWidget, title: str, question: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Warning, title, question, parent=parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def describe_error(exc: CrmError) -> str:
    """The text shown for a failed test: headline, message, advice, technical detail."""
    headline = next((h for cls, h in _HEADLINES if isinstance(exc, cls)), "The test failed")
    if exc.status:
        headline += f" (HTTP {exc.status})"
    lines = [f"{headline}.", exc.message]
    if exc.advice:
        lines.append(exc.advice)
    if exc.detail:
        lines.append(f"Details: {exc.detail}")
    return redact("\n".join(lines))


def _plain_label(text: str = "", *, muted: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if muted:  # secondary text: the palette's placeholder colour, a little smaller
        pal = label.palette()
        pal.setColor(QPalette.ColorRole.WindowText, pal.color(QPalette.ColorRole.PlaceholderText))
        label.setPalette(pal)
        font = label.font()
        font.setPointSizeF(max(font.pointSizeF() * 0.92, 7.0))
        label.setFont(font)
    return label


class ConnectDialog(QDialog):
    """Choose, create, edit or delete a connection profile; test it; connect."""

    #: (ConnectionProfile, Secrets) when the user pressed Connect and the profile is saved.
    connection_ready = Signal(object, object)
    #: Emitted when a test finishes: (ok, text shown).  For the status bar and tests.
    test_finished = Signal(bool, str)

    def __init__(
        self,
        store: ConnectionStore,
        parent: QWidget | None = None,
        *,
        select: str | None = None,
        opener: Opener | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self._opener = opener
        self.ask: Ask = ask_yes_no
        self._test_task: asyncio.Future[tuple[bool, str]] | None = None
        #: Name of the saved profile being edited (None: a new one).
        self._editing: str | None = None
        #: The loaded profile's options, so settings this form does not show survive a save.
        self._base_options: dict[str, str] = {}
        #: Values typed per field key, so switching the method back and forth keeps them.
        self._values: dict[str, str] = {}
        self._refresh_token = ""
        self._loaded: ConnectionProfile | None = None
        self._field_edits: dict[str, QLineEdit] = {}
        self._setting_tls = False
        self.result_profile: ConnectionProfile | None = None
        self.result_secrets: Secrets | None = None
        self.save_outcome: SaveOutcome | None = None

        self.setWindowTitle("Connect to a CRM")
        self.setObjectName("ConnectDialog")
        self._build()
        self._load_profiles(select)
        self.resize(900, 720)
        self._fit_height()

    # -- construction ----------------------------------------------------------------
    def _build(self) -> None:
        # Left: the profile list.
        self.profile_list = QListWidget()
        self.profile_list.setObjectName("profileList")
        self.profile_list.setAccessibleName("Saved connections")
        self.profile_list.setMinimumWidth(160)
        self.profile_list.setMaximumWidth(220)
        self.profile_list.currentItemChanged.connect(self._profile_chosen)
        self.new_button = QPushButton("&New")
        self.new_button.clicked.connect(self.new_profile)
        self.delete_button = QPushButton("&Delete…")
        self.delete_button.clicked.connect(self.delete_profile)
        list_label = QLabel("Saved &connections")
        list_label.setBuddy(self.profile_list)
        left = QVBoxLayout()
        left.addWidget(list_label)
        left.addWidget(self.profile_list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.delete_button)
        left.addLayout(buttons)

        # Right: the settings.
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("name")
        self.name_edit.setPlaceholderText("e.g. Sales CRM")
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("kind")
        for dialect, label in LABELS.items():
            self.kind_combo.addItem(label, dialect)
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("baseUrl")
        self.url_edit.setPlaceholderText("https://crm.example.com")
        self.method_combo = QComboBox()
        self.method_combo.setObjectName("method")
        self.method_help = _plain_label(muted=True)

        self.remember_check = QCheckBox("&Remember secrets in the system keyring")
        self.remember_check.setObjectName("remember")
        self.remember_check.setChecked(True)
        self.keyring_label = _plain_label()
        self.keyring_label.setObjectName("keyringStatus")

        form = QFormLayout()
        #: The method's fields are rows of the same form, inserted after the method's help.
        self.fields_form = form
        self._field_rows = 0
        form.addRow(self._buddy("Profile &name", self.name_edit), self.name_edit)
        form.addRow(self._buddy("CRM &kind", self.kind_combo), self.kind_combo)
        form.addRow(self._buddy("Base &URL", self.url_edit), self.url_edit)
        form.addRow(self._buddy("Sign-in &method", self.method_combo), self.method_combo)
        form.addRow("", self.method_help)
        self._first_field_row = form.rowCount()
        form.addRow("", self.remember_check)
        form.addRow("", self.keyring_label)

        # Connection options.
        self.verify_check = QCheckBox("&Verify TLS certificates")
        self.verify_check.setObjectName("verifyTls")
        self.verify_check.setChecked(True)
        self.verify_check.toggled.connect(self._verify_toggled)
        self.tls_warning = _plain_label(TLS_OFF_WARNING)
        self.tls_warning.setObjectName("tlsWarning")
        self.tls_warning.setStyleSheet("color: #b00020; font-weight: bold;")
        self.tls_warning.setVisible(False)
        self.ca_edit = QLineEdit()
        self.ca_edit.setObjectName("caBundle")
        self.ca_edit.setPlaceholderText("system certificates")
        self.ca_browse = QPushButton("&Browse…")
        self.ca_browse.setAccessibleName("Choose a CA bundle file")
        self.ca_browse.clicked.connect(self._browse_ca)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(self.ca_browse)
        self.connect_timeout = self._seconds(10.0)
        self.connect_timeout.setObjectName("connectTimeout")
        self.read_timeout = self._seconds(60.0)
        self.read_timeout.setObjectName("readTimeout")
        self.page_size = QSpinBox()
        self.page_size.setObjectName("pageSize")
        self.page_size.setRange(1, 1000)
        self.page_size.setValue(100)
        self.page_size.setToolTip(
            "Records fetched per request. 100 suits every CRM (EspoCRM refuses more than 200, "
            "Vtiger returns at most 100)."
        )
        #: On / off options of some CRM kinds (EspoCRM's "Skip totals"), by option key.
        self.flag_checks: dict[str, QCheckBox] = {}
        for flag in FLAGS:
            check = QCheckBox(flag.label)
            check.setObjectName(f"flag:{flag.key}")
            check.setToolTip(flag.help)
            check.setVisible(False)
            self.flag_checks[flag.key] = check
        options = QFormLayout()
        for check in self.flag_checks.values():
            options.addRow("", check)
        options.addRow("", self.verify_check)
        options.addRow("", self.tls_warning)
        ca_label = QLabel("C&A bundle")
        ca_label.setBuddy(self.ca_edit)
        options.addRow(ca_label, ca_row)
        options.addRow(self._buddy("Connec&t time-out", self.connect_timeout), self.connect_timeout)
        options.addRow(self._buddy("Rea&d time-out", self.read_timeout), self.read_timeout)
        options.addRow(self._buddy("&Page size", self.page_size), self.page_size)
        options_box = QGroupBox("Connection options")
        options_box.setLayout(options)

        # Test.
        self.test_button = QPushButton("&Test connection")
        self.test_button.setObjectName("testButton")
        self.test_button.clicked.connect(self.start_test)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(12)
        self.progress.setAccessibleName("Testing the connection")
        self.progress.setVisible(False)
        self.cancel_test_button = QPushButton("Cancel test")
        self.cancel_test_button.setObjectName("cancelTest")
        self.cancel_test_button.clicked.connect(self.cancel_test)
        self.cancel_test_button.setVisible(False)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.progress, 1)
        test_row.addWidget(self.cancel_test_button)
        self.result_label = _plain_label()
        self.result_label.setObjectName("testResult")
        self.result_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.result_label.setMinimumHeight(48)
        self.result_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # The sign-in page of a browser sign-in, while the test waits for it.
        self.signin_url = url_field()
        self.signin_url.setVisible(False)

        self.button_box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.button_box.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("&Save and connect")
        ok.setObjectName("okButton")
        self.button_box.accepted.connect(self.save_and_connect)
        self.button_box.rejected.connect(self.reject)

        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(options_box)
        right.addLayout(test_row)
        right.addWidget(self.result_label)
        right.addWidget(self.signin_url)
        right.addStretch(1)

        top = QHBoxLayout()
        top.addLayout(left)
        top.addLayout(right, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(top, 1)
        outer.addWidget(self.button_box)

        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        QShortcut(QKeySequence("Ctrl+T"), self, self.start_test)
        self._show_keyring_status()
        self._kind_changed()

    @staticmethod
    def _buddy(text: str, widget: QWidget) -> QLabel:
        label = QLabel(text)
        label.setBuddy(widget)
        return label

    @staticmethod
    def _seconds(value: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(1.0, 600.0)
        box.setDecimals(0)
        box.setSuffix(" s")
        box.setValue(value)
        return box

    # -- profiles --------------------------------------------------------------------
    def _load_profiles(self, select: str | None) -> None:
        try:
            saved = self.store.list()
        except ProfileError as exc:
            saved = []
            self._show_result(False, describe_error(exc))
        self.profile_list.blockSignals(True)
        self.profile_list.clear()
        for entry in saved:
            item = QListWidgetItem(entry.name)
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            item.setToolTip(f"{LABELS.get(entry.profile.dialect, entry.profile.dialect)}")
            self.profile_list.addItem(item)
        self.profile_list.blockSignals(False)
        wanted = select
        if wanted is None:
            try:
                wanted = self.store.profiles.last_used or None
            except ProfileError:
                wanted = None
        for row in range(self.profile_list.count()):
            item = self.profile_list.item(row)
            if wanted is None or item.data(Qt.ItemDataRole.UserRole) == wanted:
                self.profile_list.setCurrentRow(row)
                return
        self.new_profile()

    def _profile_chosen(self, current: QListWidgetItem | None, _previous: object = None) -> None:
        if current is None:
            return
        name = str(current.data(Qt.ItemDataRole.UserRole))
        try:
            opened = self.store.open(name)
        except CrmError as exc:
            self._show_result(False, describe_error(exc))
            return
        self._fill(opened.saved, opened.secrets)
        self._show_result(None, "")
        if opened.missing:
            edit = self._field_edits.get(opened.missing[0])
            if edit is not None:
                edit.setFocus()

    def new_profile(self) -> None:
        """Clear the form for a new profile."""
        self.profile_list.blockSignals(True)
        self.profile_list.clearSelection()
        self.profile_list.setCurrentRow(-1)
        self.profile_list.blockSignals(False)
        self._field_edits = {}  # the old method's edits must not write back their texts
        self._editing = None
        self._loaded = None
        self._base_options = {}
        self._values = {}
        self._refresh_token = ""
        self.name_edit.clear()
        self.url_edit.clear()
        self._set_verify(True)
        self.ca_edit.clear()
        self.connect_timeout.setValue(10.0)
        self.read_timeout.setValue(60.0)
        self.page_size.setValue(100)
        for check in self.flag_checks.values():
            check.setChecked(False)
        self.remember_check.setChecked(self.store.secrets.available)
        self._kind_changed()
        self.delete_button.setEnabled(False)
        self._show_result(None, "")
        self.name_edit.setFocus()

    def _fill(self, saved: SavedProfile, secrets: Secrets) -> None:
        p = saved.profile
        self._field_edits = {}
        self._editing = p.name
        self._loaded = p
        self._base_options = dict(p.options)
        self._values = {"username": p.username, **dict(p.options), **dict(secrets)}
        self._refresh_token = secrets.get("refresh_token", "")
        self.name_edit.setText(p.name)
        self.url_edit.setText(p.base_url)
        idx = self.kind_combo.findData(p.dialect)
        self.kind_combo.blockSignals(True)
        self.kind_combo.setCurrentIndex(max(idx, 0))
        self.kind_combo.blockSignals(False)
        self._fill_methods(select=p.auth)
        for key, check in self.flag_checks.items():
            check.setChecked(p.options.get(key, "").strip().lower() in ("1", "true", "yes"))
        self._show_flags()
        self._set_verify(p.verify_tls)
        self.ca_edit.setText(p.ca_bundle)
        self.connect_timeout.setValue(p.connect_timeout)
        self.read_timeout.setValue(p.read_timeout)
        self.page_size.setValue(p.page_size)
        self.remember_check.setChecked(saved.remember_secrets and self.store.secrets.available)
        self.delete_button.setEnabled(True)

    def delete_profile(self) -> None:
        name = self._editing
        if name is None:
            return
        if not self.ask(
            self,
            "Delete connection",
            f"Delete the connection {name!r} and the secrets saved for it in the keyring?",
        ):
            return
        try:
            self.store.delete(name)
        except CrmError as exc:
            self._show_result(False, describe_error(exc))
            return
        self._load_profiles(None)
        self._show_result(None, f"Deleted {name}.")

    # -- kind and method -------------------------------------------------------------
    def _kind(self) -> str:
        return str(self.kind_combo.currentData())

    def _method(self) -> MethodSpec | None:
        key = self.method_combo.currentData()
        return next((m for m in _methods_for(self._kind()) if m.key == key), None)

    def _kind_changed(self, _index: int = 0) -> None:
        # Another CRM: its client id / platform defaults apply, not the last kind's values.
        self._remember_typed()
        self._field_edits = {}
        for key in _ALL_OPTION_KEYS:
            self._values.pop(key, None)
        self._show_flags()
        self._fill_methods(select=None)

    def _show_flags(self) -> None:
        shown = {f.key for f in flags_for(self._kind())}
        for key, check in self.flag_checks.items():
            check.setVisible(key in shown)

    def _fill_methods(self, select: str | None) -> None:
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        for spec in _methods_for(self._kind()):
            self.method_combo.addItem(spec.label, spec.key)
        if select is not None:
            idx = self.method_combo.findData(select)
            if idx < 0:  # a method this build does not know: show it rather than change it
                self.method_combo.addItem(select, select)
                idx = self.method_combo.count() - 1
            self.method_combo.setCurrentIndex(idx)
        self.method_combo.blockSignals(False)
        self._method_changed()

    def _method_changed(self, _index: int = 0) -> None:
        self._remember_typed()
        for _ in range(self._field_rows):
            self.fields_form.removeRow(self._first_field_row)
        self._field_rows = 0
        self._field_edits = {}
        spec = self._method()
        self.method_help.setText(spec.help if spec else "")
        self.method_help.setVisible(bool(spec and spec.help))
        if spec is None:
            return
        for fspec in spec.fields:
            edit = self._make_field(fspec)
            self._field_edits[fspec.key] = edit
            label = QLabel(fspec.label + ("" if fspec.required else " (optional)"))
            label.setBuddy(edit)
            self._add_field_row(label, edit)
            if fspec.help:
                help_label = _plain_label(fspec.help, muted=True)
                help_label.setObjectName(f"help_{fspec.key}")
                self._add_field_row(QLabel(""), help_label)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow (never shrink) so wrapped help texts are not squeezed."""
        layout = self.layout()
        if layout is None:
            return
        layout.activate()
        wanted = layout.totalHeightForWidth(self.width())
        if wanted > self.height():
            self.resize(self.width(), wanted)

    def _add_field_row(self, label: QLabel, widget: QWidget) -> None:
        self.fields_form.insertRow(self._first_field_row + self._field_rows, label, widget)
        self._field_rows += 1

    def _make_field(self, fspec: FieldSpec) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(f"field_{fspec.key}")
        edit.setAccessibleName(fspec.label)
        if fspec.help:
            edit.setToolTip(fspec.help)
            edit.setAccessibleDescription(fspec.help)
        if fspec.where is Where.SECRET:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setInputMethodHints(
                Qt.InputMethodHint.ImhHiddenText
                | Qt.InputMethodHint.ImhNoPredictiveText
                | Qt.InputMethodHint.ImhSensitiveData
            )
        edit.setPlaceholderText(fspec.placeholder or fspec.default)
        edit.setText(self._values.get(fspec.key) or fspec.default)
        return edit

    def _remember_typed(self) -> None:
        for key, edit in self._field_edits.items():
            self._values[key] = edit.text()

    def field(self, key: str) -> QLineEdit | None:
        """The edit of the current method's field ``key`` (``username``, ``password`` …)."""
        return self._field_edits.get(key)

    # -- TLS -------------------------------------------------------------------------
    def _set_verify(self, on: bool) -> None:
        self._setting_tls = True
        self.verify_check.setChecked(on)
        self._setting_tls = False
        self._show_tls_state()

    def _verify_toggled(self, on: bool) -> None:
        if not on and not self._setting_tls:
            agreed = self.ask(
                self,
                "Turn off certificate verification?",
                "Without TLS verification crmdesk cannot tell the real CRM from an impostor. "
                "Passwords and keys could be read on the way.\n\nTurn it off only for a test "
                "server you control. Turn verification off?",
            )
            if not agreed:
                self._set_verify(True)
                return
        self._show_tls_state()

    def _show_tls_state(self) -> None:
        on = self.verify_check.isChecked()
        self.tls_warning.setVisible(not on)
        self.ca_edit.setEnabled(on)
        self.ca_browse.setEnabled(on)

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CA bundle", self.ca_edit.text(), "Certificates (*.pem *.crt *.cer);;All (*)"
        )
        if path:
            self.ca_edit.setText(path)

    # -- keyring ---------------------------------------------------------------------
    def _show_keyring_status(self) -> None:
        status = self.store.secrets.status
        self.remember_check.setEnabled(status.available)
        if status.available:
            self.keyring_label.setVisible(False)
            return
        self.remember_check.setChecked(False)
        self.keyring_label.setText(
            f"{status.reason} crmdesk will ask for the secrets each time and keep them in "
            "memory only; nothing is written to disk."
        )
        self.keyring_label.setVisible(True)

    # -- collecting the form ---------------------------------------------------------
    def collect(self) -> tuple[ConnectionProfile, Secrets]:
        """The profile and secrets as the form stands, or a ConfigurationError saying
        which field is wrong (that field gets the focus)."""
        self._remember_typed()
        spec = self._method()
        if spec is None:
            self.method_combo.setFocus()
            raise ConfigurationError(
                "This build does not know that sign-in method.", advice="Choose another one."
            )
        try:
            url = check_url(self.url_edit.text())
        except ConfigurationError:
            self.url_edit.setFocus()
            raise
        options = {
            k: v
            for k, v in self._base_options.items()
            if k not in _ALL_OPTION_KEYS and k not in self.flag_checks
        }
        for flag in flags_for(self._kind()):
            if self.flag_checks[flag.key].isChecked():
                options[flag.key] = "true"
        secrets: dict[str, str] = {}
        username = ""
        for fspec in spec.fields:
            value = self._values.get(fspec.key, "")
            if fspec.where is not Where.SECRET:
                value = value.strip()
            if fspec.required and not value:
                edit = self._field_edits.get(fspec.key)
                if edit is not None:
                    edit.setFocus()
                raise ConfigurationError(
                    f"{fspec.label} is needed for this sign-in method.",
                    advice=f"Enter the {fspec.label.lower()}.",
                )
            if fspec.where is Where.USERNAME:
                username = value
            elif fspec.where is Where.OPTION:
                options[fspec.key] = value
            else:
                secrets[fspec.key] = value
        loaded = self._loaded
        if (
            self._refresh_token
            and loaded is not None
            and (loaded.dialect, loaded.base_url, loaded.auth, loaded.username)
            == (self._kind(), url, spec.key, username)
        ):
            # Same account as the saved one: its refresh token still applies.
            secrets["refresh_token"] = self._refresh_token
        name = self.name_edit.text().strip() or self._default_name(url)
        profile = ConnectionProfile(
            name=name,
            dialect=self._kind(),
            base_url=url,
            auth=spec.key,
            username=username,
            options=options,
            verify_tls=self.verify_check.isChecked(),
            ca_bundle=self.ca_edit.text().strip() if self.verify_check.isChecked() else "",
            connect_timeout=self.connect_timeout.value(),
            read_timeout=self.read_timeout.value(),
            page_size=self.page_size.value(),
        )
        return profile, Secrets(secrets)

    def _default_name(self, url: str) -> str:
        host = url.split("://", 1)[-1].split("/", 1)[0]
        return f"{LABELS.get(self._kind(), self._kind()).split(' ')[0]} {host}"

    # -- testing ---------------------------------------------------------------------
    def testing(self) -> bool:
        return self._test_task is not None and not self._test_task.done()

    def start_test(self) -> None:
        """Sign in with the form's settings in the background; report in the result area."""
        try:
            profile, secrets = self.collect()
        except CrmError as exc:
            self._show_result(False, describe_error(exc))
            self.test_finished.emit(False, self.result_label.text())
            return
        self.cancel_test()
        self._set_testing(True, profile)
        task = asyncio.ensure_future(self._run_test(profile, secrets))
        task.add_done_callback(self._test_done)
        self._test_task = task

    def cancel_test(self) -> None:
        if self._test_task is not None and not self._test_task.done():
            self._test_task.cancel()

    async def _run_test(self, profile: ConnectionProfile, secrets: Secrets) -> tuple[bool, str]:
        base = self._opener if self._opener is not None else open_backend

        def opener(p: ConnectionProfile, s: Secrets) -> Backend:
            backend = base(p, s)
            watch_browser(backend, self._browser_waiting)
            return backend

        try:
            result: ProbeResult = await probe(profile, secrets, opener)
        except CrmError as exc:
            return False, describe_error(exc)
        except Exception as exc:  # probe() wraps these; a last guard for the UI
            log.error("connection test crashed: %s", type(exc).__name__)
            return False, f"The connection test failed unexpectedly ({type(exc).__name__})."
        return True, result.summary()

    def _test_done(self, task: asyncio.Future[tuple[bool, str]]) -> None:
        """Runs for every end of a test, also a cancel before the coroutine ever started."""
        if task is not self._test_task:
            return  # superseded by a newer test
        if task.cancelled():
            ok: bool | None = None
            text = "Test cancelled."
        else:
            ok, text = task.result()
        self._set_testing(False)
        self._show_result(ok, text)
        self.test_finished.emit(bool(ok), text)

    def _browser_waiting(self, url: str) -> None:
        """The test opens a sign-in page in the browser: say so, and show its address."""
        if not self.testing():
            return
        self._show_result(None, f"{WAITING_TEXT}\n{NO_BROWSER_TEXT}")
        self.signin_url.setText(url)
        self.signin_url.setCursorPosition(0)
        self.signin_url.setVisible(True)
        self.cancel_test_button.setFocus()

    def _set_testing(self, on: bool, profile: ConnectionProfile | None = None) -> None:
        if not on:
            self.signin_url.setVisible(False)
            self.signin_url.clear()
        self.progress.setVisible(on)
        self.cancel_test_button.setVisible(on)
        self.test_button.setEnabled(not on)
        if on and profile is not None:
            self._show_result(None, f"Signing in to {profile.base_url} …")
            self.cancel_test_button.setFocus()
        elif not on:
            self.test_button.setFocus()

    def _show_result(self, ok: bool | None, text: str) -> None:
        self.result_label.setText(text)
        self.result_label.setAccessibleDescription(text)
        colour = {True: "color: #1b5e20;", False: "color: #b00020;", None: ""}[ok]
        self.result_label.setStyleSheet(colour)
        self.result_label.setProperty("ok", ok)

    # -- finishing -------------------------------------------------------------------
    def save_and_connect(self) -> None:
        """QDialog's accept, after saving; on a problem the dialog stays open and says why."""
        self.cancel_test()
        try:
            profile, secrets = self.collect()
            outcome = self.store.save(
                profile, secrets, remember=self.remember_check.isChecked(), replacing=self._editing
            )
            self.store.profiles.set_last_used(profile.name)
        except CrmError as exc:
            self._show_result(False, describe_error(exc))
            return
        if outcome.problem:
            log.warning("secrets of %r not kept in the keyring: %s", profile.name, outcome.problem)
        self.save_outcome = outcome
        self.result_profile = outcome.saved.profile
        self.result_secrets = secrets
        self._editing = profile.name
        self.connection_ready.emit(self.result_profile, secrets)
        self.accept()

    def reject(self) -> None:
        """QDialog.reject; Escape while a test runs cancels the test instead of closing."""
        if self.testing():
            self.cancel_test()
            return
        super().reject()

    def done(self, result: int) -> None:
        """QDialog.done: never leave a test running behind a closed dialog."""
        self.cancel_test()
        self._values.clear()
        super().done(result)

    def selected_profile(self) -> str | None:
        return self._editing

    def with_profile(self, profile: ConnectionProfile, secrets: Secrets) -> None:
        """Fill the form from an unsaved profile (e.g. the demo server's) for the user to edit."""
        self._fill(SavedProfile(replace(profile), self.store.secrets.available), secrets)
        self._editing = None
        self.delete_button.setEnabled(False)
