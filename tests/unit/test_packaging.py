"""Packaging: the application icon, the desktop entry, the AppStream metainfo and the wheel.

The icon ships inside the package (``crmdesk/resources/``) so an installed wheel or a
PyInstaller bundle finds it; the desktop entry and the metainfo live in ``resources/`` and
must agree with each other and with ``pyproject.toml`` (id, name, icon, command, version).
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from crmdesk import app as crmdesk_app

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.crmdesk.crmdesk"
PACKAGE = ROOT / "crmdesk"
ICON = PACKAGE / "resources" / f"{APP_ID}.svg"
DESKTOP = ROOT / "resources" / f"{APP_ID}.desktop"
METAINFO = ROOT / "resources" / f"{APP_ID}.metainfo.xml"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(DESKTOP.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def _metainfo() -> ElementTree.Element:
    return ElementTree.parse(METAINFO).getroot()


def _text(root: ElementTree.Element, path: str) -> str:
    node = root.find(path)
    assert node is not None, f"metainfo has no <{path}>"
    return (node.text or "").strip()


# --- the icon ---------------------------------------------------------------------------


def test_the_app_uses_the_packaged_icon() -> None:
    assert crmdesk_app.APP_ID == APP_ID
    assert crmdesk_app.APP_ICON.resolve() == ICON.resolve()
    assert ICON.is_file()


def test_icon_is_a_square_svg() -> None:
    root = ElementTree.parse(ICON).getroot()
    assert root.tag == f"{SVG_NS}svg"
    x, y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0)
    assert width == height > 0
    # Hand-written and self-contained: no external images, fonts or scripts.
    for node in root.iter():
        assert node.tag not in (f"{SVG_NS}image", f"{SVG_NS}script", f"{SVG_NS}text")
        assert not any(k.endswith("href") for k in node.attrib)


@pytest.mark.parametrize("size", [16, 32, 48, 256])
def test_icon_renders_at_every_size(qapp: QApplication, size: int) -> None:
    assert QSvgRenderer(str(ICON)).isValid()
    icon = QIcon(str(ICON))
    assert not icon.isNull()
    image = icon.pixmap(QSize(size, size)).toImage()
    assert image.width() == size
    assert image.height() == size
    # Drawn, not blank: the centre is opaque and the corners (rounded) are see-through.
    assert image.pixelColor(size // 2, size // 2).alpha() == 255
    assert image.pixelColor(0, 0).alpha() < 128
    colours = {image.pixel(x, y) for x in range(size) for y in range(size)}
    assert len(colours) > 4


# --- the desktop entry and the AppStream metainfo ---------------------------------------


def test_desktop_entry_essentials() -> None:
    entry = _desktop_entry()
    scripts = _pyproject()["project"]["scripts"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "crmdesk"
    assert entry["GenericName"] == "CRM record browser"
    assert entry["Comment"]
    assert entry["Exec"].split()[0] in scripts  # the console script pip installs
    assert entry["Icon"] == ICON.stem == APP_ID
    assert entry["Terminal"] == "false"
    # Lists end with ';' (Desktop Entry spec); ContactManagement needs Office as main category.
    for key in ("Categories", "Keywords"):
        assert entry[key].endswith(";"), key
    categories = entry["Categories"].split(";")[:-1]
    assert categories[:2] == ["Office", "ContactManagement"]
    assert "CRM" in entry["Keywords"].split(";")


def test_metainfo_essentials() -> None:
    root = _metainfo()
    project = _pyproject()["project"]
    assert root.tag == "component"
    assert root.get("type") == "desktop-application"
    assert _text(root, "id") == APP_ID
    assert _text(root, "metadata_license") == "CC0-1.0"
    assert _text(root, "project_license") == project["license"]["text"] == "MIT"
    summary = _text(root, "summary")
    assert summary
    assert not summary.endswith(".")
    assert root.findall("description/p")
    assert root.find("content_rating") is not None
    assert [b.text for b in root.findall("provides/binary")] == list(project["scripts"])
    releases = root.findall("releases/release")
    assert releases[0].get("version") == project["version"] == "0.1.0"
    assert releases[0].get("date") == "2026-11-23"


def test_metainfo_screenshot_is_the_docs_screenshot() -> None:
    images = [_text(s, "image") for s in _metainfo().findall("screenshots/screenshot")]
    assert images
    assert images[0].endswith("/docs/screenshot.png")
    assert (ROOT / "docs" / "screenshot.png").is_file()


def test_desktop_entry_and_metainfo_agree() -> None:
    entry = _desktop_entry()
    root = _metainfo()
    assert root.find("launchable[@type='desktop-id']") is not None
    assert _text(root, "launchable") == DESKTOP.name == f"{_text(root, 'id')}.desktop"
    assert _text(root, "name") == entry["Name"]
    assert entry["Icon"] == _text(root, "id")
    meta_categories = [c.text for c in root.findall("categories/category")]
    assert meta_categories == entry["Categories"].split(";")[:-1]


# --- the wheel --------------------------------------------------------------------------


def test_package_data_covers_the_resources() -> None:
    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["crmdesk"]
    shipped = {p for pattern in patterns for p in PACKAGE.glob(pattern) if p.is_file()}
    assert PACKAGE / "py.typed" in shipped
    resources = {p for p in (PACKAGE / "resources").iterdir() if p.is_file()}
    assert ICON in resources
    assert resources <= shipped


def _source_copy(dest: Path) -> Path:
    """The files a source distribution holds, so the build leaves the work tree alone."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(PACKAGE, dest / "crmdesk", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


def test_wheel_ships_the_icon_and_the_console_script(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "-w", str(out), "--no-deps", "-q"],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = out.glob("crmdesk-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert f"crmdesk/resources/{APP_ID}.svg" in names
        assert "crmdesk/py.typed" in names
        assert zf.read(f"crmdesk/resources/{APP_ID}.svg") == ICON.read_bytes()
        (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "crmdesk = crmdesk.app:main" in zf.read(entry_points).decode()
