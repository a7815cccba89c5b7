"""Compare the *shape* of two JSON values: keys (recursively), value types, some formats.

Used by the fidelity tests to hold a demo server's answers against captured real ones::

    problems = shape_diff(demo_body, capture["body"])
    assert not problems, "\\n".join(problems)

Rules, chosen for captures that were trimmed and hold other data than the demo:

* objects: the same key set.  A captured object with a ``"..."`` key was trimmed: its
  other keys must all be present, and extra keys in the actual object must have the
  shape of the captured entries.  Paths matched by ``open_paths`` (regexes over the
  ``$.data[].attributes`` style path) only compare the keys both sides have.
* arrays: both empty or both not; each actual item is compared with the captured item at
  the same index, or with the first captured one (captures keep only a few items).
* scalars: the same JSON type (``int`` and ``float`` are both numbers).  Two non-empty
  strings must also agree on format when the captured one is an ISO datetime or a date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

TRIM_KEY = "..."
_FORMATS = {
    "iso-datetime": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$"),
    "date": re.compile(r"^\d{4}-\d\d-\d\d$"),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _format(text: str) -> str | None:
    for name, rx in _FORMATS.items():
        if rx.match(text):
            return name
    return None


def shape_diff(
    actual: Any,
    expected: Any,
    *,
    open_paths: Iterable[str] = (),
    path: str = "$",
) -> list[str]:
    """Every place where ``actual`` does not have the shape of ``expected`` (empty: same)."""
    opens = [re.compile(p) for p in open_paths]
    out: list[str] = []
    _diff(actual, expected, path, opens, out)
    return out


def _diff(
    actual: Any, expected: Any, path: str, opens: list[re.Pattern[str]], out: list[str]
) -> None:
    ta, te = json_type(actual), json_type(expected)
    if ta != te:
        out.append(f"{path}: {ta} where the capture has {te}")
        return
    if te == "object":
        _diff_object(actual, expected, path, opens, out)
    elif te == "array":
        if bool(actual) != bool(expected):
            # An open array may be empty on one side (its contents depend on the server's state).
            if not any(o.search(path) for o in opens):
                out.append(f"{path}: {len(actual)} items where the capture has {len(expected)}")
            return
        for i, item in enumerate(actual):
            model = expected[i] if i < len(expected) else expected[0]
            _diff(item, model, f"{path}[{i}]", opens, out)
    elif te == "string" and actual and expected:
        fe = _format(expected)
        if fe is not None and _format(actual) != fe:
            out.append(f"{path}: {actual!r} is not an {fe} like the capture's {expected!r}")


def _diff_object(
    actual: dict[str, Any],
    expected: dict[str, Any],
    path: str,
    opens: list[re.Pattern[str]],
    out: list[str],
) -> None:
    trimmed = TRIM_KEY in expected
    exp_keys = [k for k in expected if k != TRIM_KEY]
    is_open = any(rx.search(path) for rx in opens)
    missing = [k for k in exp_keys if k not in actual]
    extra = [k for k in actual if k not in expected]
    if missing and not is_open:
        out.append(f"{path}: missing keys {sorted(missing)}")
    if extra and not is_open:
        if trimmed and exp_keys:
            model = expected[exp_keys[0]]
            for k in extra:
                _diff(actual[k], model, f"{path}.{k}", opens, out)
        else:
            out.append(f"{path}: unexpected keys {sorted(extra)}")
    for k in exp_keys:
        if k in actual:
            _diff(actual[k], expected[k], f"{path}.{k}", opens, out)
