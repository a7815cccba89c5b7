"""Viewers for server JSON: a searchable read-only text pane and a lazy, collapsible tree.

The tree model builds a node's children only when the view first asks for them, so a
multi-megabyte response costs nothing until it is expanded; searching walks the parsed
value on a worker thread and only materialises the paths that matched.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QFontDatabase, QKeySequence, QShortcut, QTextDocument
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from crmdesk.ui.admin.common import off_thread, plain_label

Index = QModelIndex | QPersistentModelIndex
Path = tuple[int, ...]
MAX_MATCHES = 2000
SCALAR_PREVIEW = 300


def mono_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class SearchBar(QWidget):
    """A find field with previous / next buttons and a match counter."""

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.prev_button = QPushButton("Previous", self)
        self.next_button = QPushButton("Next", self)
        self.count_label = plain_label("", self)
        self.count_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("0000 of 0000+ "))
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.edit, 1)
        self._layout.addWidget(self.prev_button)
        self._layout.addWidget(self.next_button)
        self._layout.addWidget(self.count_label)

    def add_widget(self, widget: QWidget) -> None:
        self._layout.addWidget(widget)

    def text(self) -> str:
        return self.edit.text()


class TextViewer(QWidget):
    """Read-only monospace text (never rich text) with incremental search (Ctrl+F, F3)."""

    def __init__(self, parent: QWidget | None = None, placeholder: str = "Find in text") -> None:
        super().__init__(parent)
        self.search = SearchBar(placeholder, self)
        self.text_edit = QPlainTextEdit(self)
        self.text_edit.setReadOnly(True)
        self.text_edit.setFont(mono_font())
        self.text_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text_edit.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.search)
        lay.addWidget(self.text_edit, 1)
        self.search.edit.textChanged.connect(self._search_changed)
        self.search.edit.returnPressed.connect(self.find_next)
        self.search.next_button.clicked.connect(self.find_next)
        self.search.prev_button.clicked.connect(self.find_previous)
        QShortcut(QKeySequence.StandardKey.Find, self, self._focus_search)
        QShortcut(QKeySequence.StandardKey.FindNext, self, self.find_next)
        QShortcut(QKeySequence.StandardKey.FindPrevious, self, self.find_previous)
        self._folded = ""

    def set_text(self, text: str) -> None:
        self.text_edit.setPlainText(text)
        self._folded = text.casefold()
        self._search_changed(self.search.text())

    def text(self) -> str:
        return self.text_edit.toPlainText()

    def match_count(self) -> int:
        needle = self.search.text().casefold()
        return self._folded.count(needle) if needle else 0

    def find_next(self) -> bool:
        return self._find(QTextDocument.FindFlag(0))

    def find_previous(self) -> bool:
        return self._find(QTextDocument.FindFlag.FindBackward)

    def selected_text(self) -> str:
        return self.text_edit.textCursor().selectedText()

    def _find(self, flags: QTextDocument.FindFlag) -> bool:
        needle = self.search.text()
        if not needle:
            return False
        if self.text_edit.find(needle, flags):
            return True
        # Wrap around.
        cursor = self.text_edit.textCursor()
        backward = bool(flags & QTextDocument.FindFlag.FindBackward)
        cursor.movePosition(cursor.MoveOperation.End if backward else cursor.MoveOperation.Start)
        self.text_edit.setTextCursor(cursor)
        return self.text_edit.find(needle, flags)

    def _search_changed(self, text: str) -> None:
        n = self.match_count()
        self.search.count_label.setText(f"{n} found" if text else "")
        if text:
            cursor = self.text_edit.textCursor()
            cursor.setPosition(cursor.selectionStart())
            self.text_edit.setTextCursor(cursor)
            self.find_next()

    def _focus_search(self) -> None:
        self.search.edit.setFocus()
        self.search.edit.selectAll()


# -- the tree ------------------------------------------------------------------------


_EMPTY: Any = object()


class _Node:
    __slots__ = ("children", "key", "parent", "row", "value")

    def __init__(self, key: str, value: Any, parent: _Node | None, row: int) -> None:
        self.key = key
        self.value = value
        self.parent = parent
        self.row = row
        self.children: list[_Node] | None = None

    def kids(self) -> list[_Node]:
        if self.children is None:
            if isinstance(self.value, dict):
                self.children = [
                    _Node(str(k), v, self, i) for i, (k, v) in enumerate(self.value.items())
                ]
            elif isinstance(self.value, list):
                self.children = [_Node(f"[{i}]", v, self, i) for i, v in enumerate(self.value)]
            else:
                self.children = []
        return self.children

    def is_container(self) -> bool:
        return isinstance(self.value, dict | list)


def scalar_text(value: Any) -> str:
    if isinstance(value, dict):
        return f"{{{len(value)} key{'' if len(value) == 1 else 's'}}}"
    if isinstance(value, list):
        return f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def find_paths(value: Any, needle: str, limit: int = MAX_MATCHES) -> list[Path]:
    """Paths (child positions from the root) of nodes whose key or scalar value contains needle.

    Runs on a worker thread; iterative so deep JSON cannot overflow the stack.
    """
    needle = needle.casefold()
    found: list[Path] = []
    if not needle:
        return found
    stack: list[tuple[str, Any, Path]] = [("", value, ())]
    # Depth-first in document order: push children reversed.
    while stack and len(found) < limit:
        key, val, path = stack.pop()
        if path:
            hit = needle in key.casefold()
            if not hit and not isinstance(val, dict | list):
                hit = needle in scalar_text(val).casefold()
            if hit:
                found.append(path)
        if isinstance(val, dict):
            items = [(str(k), v) for k, v in val.items()]
        elif isinstance(val, list):
            items = [(f"[{i}]", v) for i, v in enumerate(val)]
        else:
            continue
        for i in range(len(items) - 1, -1, -1):
            stack.append((items[i][0], items[i][1], (*path, i)))
    return found


class JsonTreeModel(QAbstractItemModel):
    """Key / Value / Type columns over a parsed JSON value; children built on first use."""

    HEADERS = ("Key", "Value", "Type")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = _Node("", None, None, 0)
        self._value: Any = None

    def set_value(self, value: Any) -> None:
        self.beginResetModel()
        self._value = None if value is _EMPTY else value
        # A bare scalar (a string body, a number) still shows as one row.
        shown = value if isinstance(value, dict | list) else {"(value)": value}
        if value is _EMPTY:
            shown = {}
        self._root = _Node("", shown, None, 0)
        self.endResetModel()

    def value(self) -> Any:
        return self._value

    def index_for_path(self, path: Sequence[int]) -> QModelIndex:
        idx = QModelIndex()
        node = self._root
        for pos in path:
            kids = node.kids()
            if pos >= len(kids):
                return QModelIndex()
            node = kids[pos]
            idx = self.createIndex(pos, 0, node)
        return idx

    def _node(self, index: Index) -> _Node:
        if index.isValid():
            node = index.internalPointer()
            assert isinstance(node, _Node)
            return node
        return self._root

    # -- QAbstractItemModel ----------------------------------------------------------
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        """QAbstractItemModel.index: children of ``parent`` are built here on demand."""
        if column < 0 or column >= len(self.HEADERS) or (parent.isValid() and parent.column()):
            return QModelIndex()
        kids = self._node(parent).kids()
        if 0 <= row < len(kids):
            return self.createIndex(row, column, kids[row])
        return QModelIndex()

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        """QAbstractItemModel.parent: the root's children have an invalid parent."""
        if not index.isValid():
            return QModelIndex()
        node = self._node(index)
        up = node.parent
        if up is None or up is self._root:
            return QModelIndex()
        return self.createIndex(up.row, 0, up)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).kids())

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        """QAbstractItemModel.hasChildren: answered without building the children."""
        if parent.isValid() and parent.column() != 0:
            return False
        node = self._node(parent)
        return isinstance(node.value, dict | list) and len(node.value) > 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(self.HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self._node(index)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            col = index.column()
            if col == 0:
                return node.key
            if col == 1:
                text = scalar_text(node.value)
                if role == Qt.ItemDataRole.DisplayRole and len(text) > SCALAR_PREVIEW:
                    text = text[:SCALAR_PREVIEW] + "…"
                return text.replace("\n", "⏎ ") if role == Qt.ItemDataRole.DisplayRole else text
            return type_name(node.value)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None


class JsonTree(QWidget):
    """A collapsible JSON tree with search (matches found off the UI thread).

    Pressing Enter in the find field emits :attr:`search_requested` for a new text (the
    owner runs :meth:`search_for` as a task) and steps to the next match otherwise.
    """

    search_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = JsonTreeModel(self)
        self.view = QTreeView(self)
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.view.setColumnWidth(0, 220)
        self.view.setColumnWidth(1, 380)
        self.search = SearchBar("Find key or value", self)
        self.expand_button = QPushButton("Expand all", self)
        self.collapse_button = QPushButton("Collapse all", self)
        self.search.add_widget(self.expand_button)
        self.search.add_widget(self.collapse_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.search)
        lay.addWidget(self.view, 1)
        self._matches: list[Path] = []
        self._current = -1
        self.search.edit.returnPressed.connect(self._enter)
        self.search.next_button.clicked.connect(self._enter)
        self.search.prev_button.clicked.connect(self.previous_match)
        self.expand_button.clicked.connect(self.view.expandAll)
        self.collapse_button.clicked.connect(self.view.collapseAll)
        self._searched_for = ""

    def set_value(self, value: Any) -> None:
        self.model.set_value(value)
        self._matches = []
        self._current = -1
        self._searched_for = ""
        self.search.count_label.setText("")
        if isinstance(value, dict | list) and len(value) <= 50:
            self.view.expandToDepth(0)

    async def search_for(self, text: str) -> int:
        """Find ``text`` in keys and values (on a worker thread); select the first match."""
        value = self.model.value()
        self._matches = await off_thread(find_paths, value, text) if text else []
        self._searched_for = text
        self._current = -1
        n = len(self._matches)
        more = "+" if n >= MAX_MATCHES else ""
        self.search.count_label.setText(f"{n}{more} found" if text else "")
        if self._matches:
            self.next_match()
        return n

    def clear(self) -> None:
        """No JSON to show (the response was not JSON)."""
        self.set_value(_EMPTY)

    def matches(self) -> list[Path]:
        return list(self._matches)

    def searched_for(self) -> str:
        return self._searched_for

    def _enter(self) -> None:
        text = self.search.text()
        if text != self._searched_for:
            self.search_requested.emit(text)
        else:
            self.next_match()

    def next_match(self) -> None:
        self._step(1)

    def previous_match(self) -> None:
        self._step(-1)

    def _step(self, delta: int) -> None:
        if not self._matches:
            return
        self._current = (self._current + delta) % len(self._matches)
        idx = self.model.index_for_path(self._matches[self._current])
        if idx.isValid():
            self.view.scrollTo(idx)
            self.view.setCurrentIndex(idx)
            self.search.count_label.setText(f"{self._current + 1} of {len(self._matches)}")
