"""Related records: one tab per relationship (LinkDef), each a paged table.

Each tab uses the same :class:`RecordTableModel` as the main list, loads only
when first shown, puts the count in its title when the CRM gives one, and
offers Link (lookup with search), Unlink (confirmed; the record stays) and
New (a record created pre-linked).  Double-click opens the related record.
Operations announce what they changed; a tab reloads only for its own link.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QMessageBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from crmdesk.core.errors import CrmError, ValidationError
from crmdesk.core.query import Query, SortKey
from crmdesk.core.records import Page, PageRequest, Record, RecordRef, Value
from crmdesk.core.schema import FieldDef, FieldType, LinkDef, ModuleDef
from crmdesk.ui.errors import describe
from crmdesk.ui.forms.editors import EditorContext, plain
from crmdesk.ui.forms.extras import HierarchyTab
from crmdesk.ui.forms.form import RecordForm
from crmdesk.ui.forms.lookup import LookupDialog
from crmdesk.ui.forms.values import default_values
from crmdesk.ui.models.records import Loader, RecordTableModel
from crmdesk.ui.operations import ChangeKind, Operations, RecordChange, lookup
from crmdesk.ui.views.record_table import RecordTableView

_FALLBACK_COLUMNS = (FieldDef("name", "Name", FieldType.TEXT),)


#: Targets that are bookkeeping (who created it, e-mail rows, teams): their tabs go last.
_SYSTEM_TARGETS = frozenset(
    {"users", "user", "emailaddresses", "emailaddress", "teams", "team", "securitygroups"}
)


def prefilled(owner: ModuleDef | None, record: Record, target: ModuleDef) -> dict[str, Value]:
    """A new related record's relate field pointing back at ``record`` (a Contact created
    from an Account gets its account), with the name it shows."""
    for fdef in target.fields:
        if (
            fdef.type is FieldType.RELATE
            and fdef.relate_module == record.module
            and not fdef.read_only
            and fdef.visible
        ):
            values: dict[str, Value] = {fdef.name: record.id}
            name_field = owner.name_field if owner is not None else "name"
            label = record.get(name_field)
            if fdef.relate_name_field and label:
                values[fdef.relate_name_field] = label
            return values
    return {}


#: Modules whose records have a parent / child hierarchy the CRM can tell.
HIERARCHY_MODULES = frozenset({"Accounts", "Account"})


def related_links(mdef: ModuleDef) -> list[LinkDef]:
    """The links worth a tab (target module known), business relationships first."""
    links = [lk for lk in mdef.links if lk.target_module]
    return sorted(links, key=lambda lk: lk.target_module.lower() in _SYSTEM_TARGETS)


class RelatedTab(QWidget):
    open_requested = Signal(str, str)
    title_changed = Signal()

    def __init__(self, owner: RelatedTabs, link: LinkDef) -> None:
        super().__init__()
        self.owner = owner
        self.link = link
        self.target: ModuleDef | None = None
        ops = owner.ops
        self.model = RecordTableModel(ops.runner, page_size=50, key=f"related:{link.name}")
        self.view = RecordTableView(self.model)
        self.view.doubleClicked.connect(self._open)
        self.loaded_for: str | None = None
        self.link_button = QToolButton()
        self.link_button.setText("Link…")
        self.link_button.setToolTip(f"Link an existing {link.target_module} record")
        self.unlink_button = QToolButton()
        self.unlink_button.setText("Unlink")
        self.unlink_button.setToolTip("Remove the link; the record itself is not deleted")
        self.new_button = QToolButton()
        self.new_button.setText("New…")
        self.new_button.setToolTip(f"Create a {link.target_module} record linked to this one")
        self.link_button.clicked.connect(self.link_existing)
        self.unlink_button.clicked.connect(self.unlink_selected)
        self.new_button.clicked.connect(self.create_new)
        self.message = plain()
        self.message.setEnabled(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for b in (self.link_button, self.unlink_button, self.new_button):
            bar.addWidget(b)
        bar.addWidget(self.message, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.model.counts_changed.connect(self.title_changed)
        self.model.load_failed.connect(lambda text: self.message.setText(f"Not loaded: {text}"))
        self.dialog: QDialog | None = None

    def title(self) -> str:
        total = self.model.total if self.loaded_for else None
        return f"{self.link.label} ({total})" if total is not None else self.link.label

    def selected_id(self) -> str | None:
        rows = {i.row() for i in self.view.selectionModel().selectedRows()}
        return self.model.record_id(rows.pop()) if len(rows) == 1 else None

    # -- loading -----------------------------------------------------------------------
    def load(self, force: bool = False) -> None:
        record = self.owner.record
        if record is None or (self.loaded_for == record.id and not force):
            return
        self.loaded_for = record.id
        self.message.clear()
        ops, owner_module, link = self.owner.ops, record.module, self.link.name
        record_id = record.id

        async def start() -> None:
            try:
                self.target = await ops.describe(self.link.target_module)
                columns = self.target.columns(6)
            except CrmError:
                self.target = None
                columns = _FALLBACK_COLUMNS

            def make(sort: tuple[SortKey, ...]) -> Loader:
                query = Query(sort=sort)

                async def load(request: PageRequest) -> Page:
                    return await ops.backend.related(owner_module, record_id, link, query, request)

                return load

            self.model.set_source(columns, make)

        ops.runner.run(f"related-open:{link}", start(), label=f"Loading {self.link.label}")

    def _open(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_requested.emit(self.link.target_module, self.model.record_id(index.row()))

    # -- actions -----------------------------------------------------------------------
    def _failed(self, what: str) -> Callable[[BaseException], None]:
        def report(exc: BaseException) -> None:
            _t, message, advice = describe(exc)
            self.message.setText(f"{what} failed: {message} {advice}".strip())
            self.message.setEnabled(True)

        return report

    def link_existing(self) -> None:
        record = self.owner.record
        if record is None:
            return
        ops = self.owner.ops

        async def run() -> None:
            target = await ops.describe(self.link.target_module)

            async def search(text: str) -> list[RecordRef]:
                return await lookup(ops.backend, target, text)

            dialog = LookupDialog(f"Link {target.label}", search, self.window())
            self.dialog = dialog
            try:
                ref = await dialog.choose()
            finally:
                self.dialog = None
                dialog.deleteLater()
            if ref is not None:
                ops.link(
                    record.module, record.id, self.link.name, ref.id, failure=self._failed("Link")
                )

        ops.runner.run(f"related-lookup:{self.link.name}", run(), label="Looking up records")

    def unlink_selected(self) -> None:
        record, related_id = self.owner.record, self.selected_id()
        if record is None or related_id is None:
            self.message.setText("Select a row to unlink.")
            return
        row = self.model.row_of(related_id)
        label = self.model.text(row, 0) if row >= 0 and self.model.columnCount() else related_id
        text = (
            f"Unlink “{label}” from this record? The {self.link.target_module} record itself "
            "is not deleted."
        )
        if not self.owner.confirm("Unlink", text):
            return
        self.owner.ops.unlink(
            record.module, record.id, self.link.name, related_id, failure=self._failed("Unlink")
        )

    def create_new(self) -> None:
        record = self.owner.record
        if record is None:
            return
        ops = self.owner.ops

        async def run() -> None:
            target = await ops.describe(self.link.target_module)
            dialog = NewRelatedDialog(self.owner, self.link, record, target, self.window())
            self.dialog = dialog
            dialog.finished.connect(lambda _c: setattr(self, "dialog", None))
            dialog.open()

        ops.runner.run(f"related-new:{self.link.name}", run(), label="Preparing the form")


class NewRelatedDialog(QDialog):
    """A generated form for the target module; Create makes the record already linked."""

    def __init__(
        self,
        owner: RelatedTabs,
        link: LinkDef,
        record: Record,
        target: ModuleDef,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"New {target.label} linked to this record")
        self.owner, self.link, self.record, self.target = owner, link, record, target
        self.form = RecordForm(owner.ctx)
        self.prefilled = prefilled(owner.mdef, record, target)
        self.form.new(target, {**default_values(target), **self.prefilled})
        self.form.save_button.hide()
        self.form.revert_button.hide()
        self.buttons = QDialogButtonBox()
        self.create_button = self.buttons.addButton(
            "Create", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.create_record)
        self.buttons.rejected.connect(self.reject)
        self.form.retry_requested.connect(self.create_record)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form, 1)
        layout.addWidget(self.buttons)
        self.resize(520, 560)
        self.setWindowModality(Qt.WindowModality.WindowModal)

    def create_record(self) -> None:
        if self.form.validate():
            self.form.show_message("Not created: check the marked fields.", retry=False)
            return
        values = self.form.values_for_create()
        self.create_button.setEnabled(False)

        def done(_rec: Record) -> None:
            self.accept()

        def failed(exc: BaseException) -> None:
            self.create_button.setEnabled(True)
            if isinstance(exc, ValidationError):
                self.form.show_errors(exc.fields, f"Not created: {exc.message}")
                return
            _t, message, advice = describe(exc)
            self.form.show_message(f"Not created: {message} {advice}", retry=True)

        self.owner.ops.create_related(
            self.record.module,
            self.record.id,
            self.link.name,
            self.target,
            values,
            success=done,
            failure=failed,
        )


class RelatedTabs(QTabWidget):
    open_requested = Signal(str, str)

    def __init__(self, ops: Operations, ctx: EditorContext | None = None) -> None:
        super().__init__()
        self.ops = ops
        self.ctx = ctx or EditorContext()
        self.mdef: ModuleDef | None = None
        self.record: Record | None = None
        self.tabs: dict[str, RelatedTab] = {}
        self.hierarchy: HierarchyTab | None = None
        self.confirm: Callable[[str, str], bool] = self._confirm
        self.setDocumentMode(True)
        self.setUsesScrollButtons(True)
        self.setElideMode(Qt.TextElideMode.ElideNone)
        self.currentChanged.connect(self._current_changed)

    def forget(self) -> None:
        """No record shown: drop the related rows and hide."""
        self.record = None
        for tab in self.tabs.values():
            tab.model.clear()
            tab.loaded_for = None
        if self.hierarchy is not None:
            self.hierarchy.tree.clear()
            self.hierarchy.loaded_for = None
        self.setVisible(False)

    def set_record(self, mdef: ModuleDef, record: Record) -> None:
        if mdef is not self.mdef:
            self.mdef = mdef
            super().clear()
            for tab in self.tabs.values():
                tab.model.clear()
                tab.deleteLater()
            self.tabs = {}
            if self.hierarchy is not None:
                self.hierarchy.deleteLater()
                self.hierarchy = None
            backend = self.ops.backend
            if (
                mdef.name in HIERARCHY_MODULES
                and backend.capabilities.hierarchy
                and "hierarchy" not in backend.disabled_features()
            ):
                self.hierarchy = HierarchyTab(self.ops)
                self.hierarchy.open_requested.connect(self.open_requested)
                self.addTab(self.hierarchy, "Hierarchy")
            for lk in related_links(mdef):
                tab = RelatedTab(self, lk)
                tab.open_requested.connect(self.open_requested)
                tab.title_changed.connect(lambda t=tab: self._retitle(t))
                self.tabs[lk.name] = tab
                self.addTab(tab, lk.label)
        self.record = record
        for tab in self.tabs.values():
            tab.loaded_for = None
            self._retitle(tab)
        if self.hierarchy is not None:
            self.hierarchy.set_record(record)
        self.setVisible(bool(self.tabs) or self.hierarchy is not None)
        self._current_changed(self.currentIndex())

    def tab(self, link: str) -> RelatedTab | None:
        return self.tabs.get(link)

    def show_link(self, link: str) -> RelatedTab | None:
        tab = self.tabs.get(link)
        if tab is not None:
            self.setCurrentWidget(tab)
            tab.load()
        return tab

    def record_changed(self, change: RecordChange) -> None:
        if self.record is None:
            return
        if change.kind in (ChangeKind.LINKED, ChangeKind.UNLINKED):
            if change.module == self.record.module and change.record_id == self.record.id:
                tab = self.tabs.get(change.link)
                if tab is not None and tab.loaded_for is not None:
                    tab.load(force=True)
            return
        for tab in self.tabs.values():
            if tab.loaded_for is None or tab.link.target_module != change.module:
                continue
            if tab.model.row_of(change.record_id) >= 0:
                tab.load(force=True)

    def _current_changed(self, index: int) -> None:
        widget = self.widget(index)
        if isinstance(widget, RelatedTab | HierarchyTab) and self.record is not None:
            widget.load()

    def _retitle(self, tab: RelatedTab) -> None:
        index = self.indexOf(tab)
        if index >= 0:
            self.setTabText(index, tab.title())

    def _confirm(self, title: str, text: str) -> bool:
        box = QMessageBox(self.window())
        box.setWindowTitle(f"crmdesk — {title}")
        box.setIcon(QMessageBox.Icon.Question)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(text)
        yes = box.addButton(title, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        ok = box.clickedButton() is yes
        box.deleteLater()
        return ok
