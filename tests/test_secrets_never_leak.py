"""No secret ever reaches a file crmdesk writes, a log line or an exception message.

For every dialect and sign-in method: save the profile (secrets to the keyring), open it
again, sign in with the demo CRM's random secrets, list, get, describe into the metadata
cache, fail requests (unknown record, an HTML answer, wrong credentials), close.  Then
search every file under the config, cache and log directories (pointed at tmp dirs), the
captured log output (DEBUG, httpx and httpcore included) and every exception's text and
traceback for the secrets, their URL encodings and the Basic-auth form.  Positive controls
make sure each place really holds output, so an empty search cannot pass by accident.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from secrets import token_hex
from urllib.parse import quote, quote_plus

import pytest
from helpers.memory_keyring import MemoryKeyring, use_keyring

from crmdesk.backends import open_backend
from crmdesk.core.backend import Backend
from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.core.errors import AuthError, ConfigurationError, CrmError
from crmdesk.core.query import Query
from crmdesk.core.records import PageRequest
from crmdesk.core.registry import backend_class
from crmdesk.demo.server import DIALECT_APPS, DemoServer
from crmdesk.storage import paths
from crmdesk.storage.cache import MODULE_LIST, MetadataCache
from crmdesk.storage.connections import ConnectionStore
from crmdesk.storage.logfile import install_file_log, log_file_path
from crmdesk.storage.profiles import FILENAME
from crmdesk.storage.signin import METHODS

#: Sign-in methods that need a token from an earlier sign-in rather than typed secrets.
TOKEN_METHODS = frozenset({"refresh_token"})


def _cases() -> list[object]:
    """Every method the dialog offers plus every one an adapter declares; a dialect the demo
    server or the build lacks is an explicit strict xfail (never a silent skip)."""
    pairs = {(m.dialect, m.key) for m in METHODS}
    for dialect in {m.dialect for m in METHODS}:
        with contextlib.suppress(ConfigurationError):
            pairs.update((dialect, a) for a in backend_class(dialect).capabilities.auth_methods)
    cases: list[object] = []
    for dialect, auth in sorted(pairs):
        reason = ""
        if dialect not in DIALECT_APPS:
            reason = f"the demo server does not host {dialect} yet"
        else:
            try:
                backend_class(dialect)
            except ConfigurationError:
                reason = f"the {dialect} adapter has not landed yet"
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        cases.append(pytest.param(dialect, auth, marks=marks, id=f"{dialect}-{auth}"))
    return cases


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    d = {"config": tmp_path / "config", "cache": tmp_path / "cache", "log": tmp_path / "log"}
    monkeypatch.setenv(paths.CONFIG_ENV, str(d["config"]))
    monkeypatch.setenv(paths.CACHE_ENV, str(d["cache"]))
    monkeypatch.setenv(paths.LOG_ENV, str(d["log"]))
    return d


@pytest.fixture
def file_log(dirs: dict[str, Path]) -> Iterator[Path]:
    handler = install_file_log(level=logging.DEBUG)
    try:
        yield log_file_path()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


@pytest.fixture
def keyring_() -> Iterator[MemoryKeyring]:
    kr = MemoryKeyring()
    with use_keyring(kr):
        yield kr


def _needles(secret_values: set[str], username: str) -> set[str]:
    """Each secret as it could appear: raw, URL-encoded, in a Basic-auth header."""
    out: set[str] = set()
    for value in secret_values:
        if len(value) < 6:  # too short to be a distinctive search term
            continue
        out |= {value, quote(value, safe=""), quote_plus(value)}
        for pair in (f"{username}:{value}", f"{value}:"):
            out.add(base64.b64encode(pair.encode()).decode())
    return out


def _exception_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, CrmError):
        texts += [exc.message, exc.advice or "", exc.detail or ""]
    return texts


async def _sign_in_flow(
    backend: Backend, cache: MetadataCache, profile_name: str, errors: list[BaseException]
) -> str | None:
    """Connect, list, describe (into the cache), get, and one failing get.  Returns the
    first entity module used."""
    await backend.connect()
    modules = await backend.modules()
    cache.put_json(profile_name, MODULE_LIST, [m.name for m in modules], etag="demo")
    module = next((m.name for m in modules if m.entity), None)
    assert module is not None
    mdef = await backend.describe(module)
    cache.put(profile_name, module, repr(mdef).encode(), etag="demo")
    page = await backend.list_records(module, Query(), PageRequest(size=5))
    if page.records:
        await backend.get(module, page.records[0].id)
    try:
        await backend.get(module, "no-such-record-0000")
    except CrmError as exc:
        errors.append(exc)
    return module


async def _connect_and_list(backend: Backend) -> None:
    await backend.connect()
    await backend.modules()


def _search(
    dirs: dict[str, Path],
    log_file: Path,
    profile_name: str,
    caplog: pytest.LogCaptureFixture,
    errors: list[BaseException],
    needles: set[str],
) -> list[tuple[str, str]]:
    """Positive controls, then where any needle was found (as (place, needle prefix))."""
    config_text = (dirs["config"] / FILENAME).read_text(encoding="utf-8")
    assert profile_name in config_text
    assert any(p.is_file() for p in dirs["cache"].rglob("*"))
    assert "HTTP Request" in log_file.read_text(encoding="utf-8")
    assert any(r.name == "httpx" for r in caplog.records)
    assert len(errors) >= 2
    assert needles

    haystacks: dict[str, str] = {}
    for root in dirs.values():
        for path in root.rglob("*"):
            if path.is_file():
                haystacks[str(path)] = path.read_bytes().decode("latin-1")
    haystacks["caplog"] = caplog.text + "\n".join(
        r.getMessage() + (r.exc_text or "") for r in caplog.records
    )
    for i, exc in enumerate(errors):
        haystacks[f"exception {i} {type(exc).__name__}"] = "\n".join(_exception_texts(exc))
    return [
        (where, needle[:4] + "…")
        for where, text in haystacks.items()
        for needle in needles
        if needle in text
    ]


async def _token_sign_in(
    store: ConnectionStore,
    token_profile: ConnectionProfile,
    cache: MetadataCache,
    errors: list[BaseException],
    known: set[str],
) -> None:
    again = store.open(token_profile.name)
    stored = again.secrets.get("refresh_token")
    assert stored, "the refresh token was not kept in the keyring"
    backend = open_backend(token_profile, Secrets(refresh_token=stored))
    try:
        await _sign_in_flow(backend, cache, token_profile.name, errors)
        token = getattr(backend, "refresh_token", None)
        if isinstance(token, str) and token:
            known.add(token)
    finally:
        await backend.close()


@pytest.mark.parametrize(("dialect", "auth"), _cases())
async def test_no_secret_leaks(
    demo_server: DemoServer,
    dirs: dict[str, Path],
    file_log: Path,
    keyring_: MemoryKeyring,
    caplog: pytest.LogCaptureFixture,
    dialect: str,
    auth: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "crmdesk"):
        caplog.set_level(logging.DEBUG, logger=name)

    base_auth = "password" if auth in TOKEN_METHODS else auth
    profile = demo_server.profile(dialect, base_auth)
    options = dict(profile.options)
    if dialect == "sugarcrm":
        options["cache_dir"] = str(dirs["cache"] / "sugar")  # its own metadata cache, on disk
    profile = replace(profile, name=f"Leak {dialect} {auth}", options=options)
    secrets = demo_server.secrets(dialect, base_auth)
    known: set[str] = set(secrets.values())
    errors: list[BaseException] = []

    store = ConnectionStore()
    outcome = store.save(profile, secrets, remember=True)
    assert outcome.secrets_stored, outcome.problem
    opened = store.open(profile.name)
    assert {k: v for k, v in opened.secrets.items() if v} == {k: v for k, v in secrets.items() if v}
    cache = MetadataCache()

    try:
        backend = open_backend(opened.profile, opened.secrets)
        try:
            module = await _sign_in_flow(backend, cache, profile.name, errors)
            token = getattr(backend, "refresh_token", None)
            if isinstance(token, str) and token:
                known.add(token)
                assert store.remember_refresh_token(profile.name, token)
            # An HTML page where JSON belongs: its summary lands in an error's detail.
            demo_server.faults.inject(rf"^/{dialect}/", "html", times=1)
            try:
                await backend.list_records(module or "", Query(), PageRequest(size=5))
            except CrmError as exc:
                errors.append(exc)
            if auth in TOKEN_METHODS:
                # Before this session logs out (which revokes its refresh token, as Sugar
                # does): a second sign-in with nothing but the stored refresh token.
                await _token_sign_in(store, replace(profile, auth=auth), cache, errors, known)
        finally:
            await backend.close()

        # Wrong credentials: distinctive wrong values must not leak either.
        wrong = Secrets({k: f"WRONG-{k}-{token_hex(8)}" for k in secrets if secrets[k]})
        known |= set(wrong.values())
        bad = open_backend(profile, wrong)
        try:
            with pytest.raises(CrmError) as info:
                await _connect_and_list(bad)
            errors.append(info.value)
        finally:
            await bad.close()
    except CrmError as exc:
        errors.append(exc)
        raise
    finally:
        cache.close()

    assert any(isinstance(e, AuthError) for e in errors), [type(e).__name__ for e in errors]

    assert {v for (svc, _), v in keyring_.entries.items() if svc == f"crmdesk:{profile.name}"}
    found = _search(dirs, file_log, profile.name, caplog, errors, _needles(known, profile.username))
    assert not found, f"secrets found in: {found}"
