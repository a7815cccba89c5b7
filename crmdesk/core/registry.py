"""Dialect name → backend class, imported lazily; overwriting an entry needs ``replace=True``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from crmdesk.core.errors import ConfigurationError

if TYPE_CHECKING:
    from crmdesk.core.backend import Backend

_REGISTRY: dict[str, str | type[Backend]] = {
    "suitecrm": "crmdesk.backends.suitecrm:SuiteCrmBackend",
    "sugarcrm": "crmdesk.backends.sugarcrm:SugarCrmBackend",
    "espocrm": "crmdesk.backends.espocrm:EspoCrmBackend",
    "vtiger": "crmdesk.backends.vtiger:VtigerBackend",
}

LABELS: dict[str, str] = {
    "suitecrm": "SuiteCRM (API v8)",
    "sugarcrm": "SugarCRM (REST v11)",
    "espocrm": "EspoCRM (api/v1)",
    "vtiger": "Vtiger (REST / webservice)",
}


def register(name: str, target: str | type[Backend], *, replace: bool = False) -> None:
    if name in _REGISTRY and not replace and _REGISTRY[name] != target:
        raise ValueError(f"dialect {name!r} is already registered; pass replace=True to override")
    _REGISTRY[name] = target


def dialects() -> list[str]:
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(
            f"Unknown CRM kind {name!r}.", advice=f"Choose one of: {', '.join(dialects())}."
        ) from None
    if isinstance(target, str):
        mod_name, _, cls_name = target.partition(":")
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"Support for {name!r} is not available in this build ({exc})."
            ) from exc
        _REGISTRY[name] = cls
        return cls  # type: ignore[no-any-return]
    return target
