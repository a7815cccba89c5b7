"""A scripted stand-in for the user's web browser on the demo SuiteCRM consent page.

The authorization-code sign-in opens the CRM's consent page in the system browser; tests
(and headless demos) hand this instead: it loads the page, fills in the user name and
password, presses a consent button and follows the redirect to the app's loopback
listener, all with httpx over 127.0.0.1 — it refuses any other host.

    browser = DemoBrowser(server.credentials.username, server.credentials.password)
    backend.open_browser = browser           # or oauth_loopback.set_browser(browser)

``consent`` is the button (``once``, ``always`` or ``abort``); ``rewrite`` may change the
redirect before it is followed (a test forging ``state``, say).  What the browser saw is
kept in :attr:`visits` (method, URL, status) and :attr:`last_page`.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class _FormReader(HTMLParser):
    """The first form's action and its hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
            self._in_form = True
        elif tag == "input" and self._in_form and a.get("type") == "hidden" and "name" in a:
            self.hidden[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


class DemoBrowser:
    """An async ``open_browser`` for :mod:`crmdesk.backends.oauth_loopback`."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        consent: str = "once",
        rewrite: Callable[[str], str] | None = None,
        follow_redirect: bool = True,
    ) -> None:
        self.username = username
        self.password = password
        self.consent = consent
        self.rewrite = rewrite
        self.follow_redirect = follow_redirect
        self.visits: list[tuple[str, str, int]] = []
        self.last_page = ""
        #: The redirect the CRM sent back (before ``rewrite``), when it sent one.
        self.redirect: str | None = None

    def __repr__(self) -> str:
        return f"DemoBrowser(username={self.username!r}, consent={self.consent!r})"

    async def __call__(self, url: str) -> bool:
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
            page = await self._go(client, "GET", url)
            if page.status_code != 200:
                return True  # the user would look at the CRM's error page; nothing follows
            form = _FormReader()
            form.feed(page.text)
            if form.action is None:
                return True
            fields = {
                **form.hidden,
                "user_name": self.username,
                "username_password": self.password,
                "confirmed": self.consent,
            }
            answer = await self._go(client, "POST", urljoin(url, form.action), data=fields)
            location = answer.headers.get("location")
            if answer.status_code not in (301, 302, 303) or not location:
                return True  # e.g. the form again, with "wrong password"
            self.redirect = location
            if self.rewrite is not None:
                location = self.rewrite(location)
            if self.follow_redirect:
                await self._go(client, "GET", location)
        return True

    async def _go(
        self, client: httpx.AsyncClient, method: str, url: str, data: dict[str, str] | None = None
    ) -> httpx.Response:
        host = urlsplit(url).hostname or ""
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the demo browser only visits 127.0.0.1, not {host!r}")
        response = await client.request(method, url, data=data)
        self.visits.append((method, url.split("?", 1)[0], response.status_code))
        self.last_page = response.text
        return response
