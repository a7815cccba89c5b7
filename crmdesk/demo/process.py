"""The demo CRM in a child process: to crmdesk what a real CRM is, another process.

:class:`~crmdesk.demo.server.DemoServer` serves from a thread of the caller's process,
which suits tests (faults and tokens are switched directly).  But a server thread shares
the interpreter lock with the GUI: while a request is out, every millisecond the GUI
spends (laying out the module it opened, painting) is a millisecond the server cannot
run, and every socket call of either side waits for the other to let go of the lock.
A real CRM never competes with the GUI like that, so ``crmdesk --demo`` and the
benchmarks host the demo here instead.

::

    with DemoProcess().start() as demo:
        demo.profile("suitecrm"), demo.secrets("suitecrm")
        fault = demo.inject(r"/Api/V8/module/Accounts$", "delay:0.2", times=None)
        fault.hits

The two processes talk over the child's standard input and output, one JSON object per
line; the demo's random credentials travel over that pipe only, never through a file.

* child → parent, once started: ``{"port": N, "dialects": [...], "credentials": {...}}``
* parent → child: ``{"op": "inject", "path", "kind", "times", "method"}`` (answer
  ``{"fault": id}``), ``{"op": "hits", "fault": id}`` (``{"hits": n}``),
  ``{"op": "clear"}``, ``{"op": "expire_tokens"}``; every answer has ``"ok"``, a
  refused one an ``"error"``.
* end of the child's input (the parent closed it, or died): the child stops serving
  and exits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import queue
import subprocess
import sys
import threading
from typing import IO, Any

from crmdesk.core.connection import ConnectionProfile, Secrets
from crmdesk.demo.server import (
    DIALECT_APPS,
    DemoCredentials,
    DemoServer,
    demo_profile,
    demo_secrets,
)

#: How long an answer from the child may take (it answers from memory).
ANSWER_TIMEOUT = 10.0


class DemoProcessError(RuntimeError):
    """The child process did not start, stopped, or refused a command."""


class RemoteFault:
    """A fault armed in the child (see :mod:`crmdesk.demo.faults`); ``hits`` asks it."""

    def __init__(self, owner: DemoProcess, fault_id: int) -> None:
        self._owner = owner
        self.id = fault_id

    @property
    def hits(self) -> int:
        answer = self._owner._command({"op": "hits", "fault": self.id})
        return int(answer["hits"])


class DemoProcess:
    """The demo CRM served by a child process on 127.0.0.1 (a free port)."""

    def __init__(self, dialects: tuple[str, ...] | None = None) -> None:
        self._dialects = dialects
        self._child: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._port = 0
        self.dialects: tuple[str, ...] = ()
        self.credentials: DemoCredentials | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> DemoProcess:
        """Start the child and wait until it serves (it generates its data set first)."""
        child = subprocess.Popen(
            child_command(self._dialects),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._child = child
        assert child.stdout is not None
        threading.Thread(
            target=_pump, args=(child.stdout, self._lines), name="crmdesk-demo-pipe", daemon=True
        ).start()
        try:
            hello = self._answer(timeout)
        except DemoProcessError:
            self.stop()
            raise
        self._port = int(hello["port"])
        self.dialects = tuple(hello["dialects"])
        self.credentials = DemoCredentials(**hello["credentials"])
        return self

    def stop(self) -> None:
        """Close the child's input (it stops serving and exits); kill it if it lingers."""
        child, self._child = self._child, None
        self._port, self.credentials = 0, None
        if child is None:
            return
        try:
            if child.stdin is not None:
                child.stdin.close()
        except OSError:
            pass
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    def __enter__(self) -> DemoProcess:
        return self if self._child is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    # -- addresses and credentials ------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise DemoProcessError("the demo CRM process is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, dialect: str) -> str:
        if dialect not in self.dialects:
            raise KeyError(f"the demo server does not host {dialect!r}")
        return f"{self.url}/{dialect}"

    def profile(self, dialect: str, auth: str = "password") -> ConnectionProfile:
        """A profile that signs in to the child's demo CRM (see :func:`demo_profile`)."""
        return demo_profile(self.base_url(dialect), self._credentials(), dialect, auth)

    def secrets(self, dialect: str, auth: str = "password") -> Secrets:
        return demo_secrets(self._credentials(), dialect, auth)

    def _credentials(self) -> DemoCredentials:
        if self.credentials is None:
            raise DemoProcessError("the demo CRM process is not started")
        return self.credentials

    # -- switches -------------------------------------------------------------------------------

    def inject(
        self, path_regex: str, kind: str, times: int | None = 1, *, method: str | None = None
    ) -> RemoteFault:
        """Arm a fault in the child, as :meth:`crmdesk.demo.faults.Faults.inject` does."""
        answer = self._command(
            {"op": "inject", "path": path_regex, "kind": kind, "times": times, "method": method}
        )
        return RemoteFault(self, int(answer["fault"]))

    def clear(self) -> None:
        """Disarm every fault."""
        self._command({"op": "clear"})

    def expire_tokens(self) -> None:
        """Make every token the child issued so far expire now."""
        self._command({"op": "expire_tokens"})

    # -- the pipe -------------------------------------------------------------------------------

    def _command(self, message: dict[str, Any]) -> dict[str, Any]:
        child = self._child
        if child is None or child.stdin is None:
            raise DemoProcessError("the demo CRM process is not started")
        with self._lock:
            try:
                child.stdin.write(json.dumps(message) + "\n")
                child.stdin.flush()
            except OSError as exc:
                raise DemoProcessError(f"the demo CRM process stopped ({exc})") from None
            return self._answer(ANSWER_TIMEOUT)

    def _answer(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise DemoProcessError(
                f"the demo CRM process did not answer in {timeout:.0f} s"
            ) from None
        if line is None:
            code = self._child.poll() if self._child is not None else None
            raise DemoProcessError(f"the demo CRM process stopped (exit code {code})")
        try:
            answer = json.loads(line)
        except ValueError:
            raise DemoProcessError("the demo CRM process answered something unreadable") from None
        if not isinstance(answer, dict):
            raise DemoProcessError("the demo CRM process answered something unreadable")
        if answer.get("error"):
            raise DemoProcessError(f"the demo CRM process refused: {answer['error']}")
        return answer


def child_command(dialects: tuple[str, ...] | None = None) -> list[str]:
    """How to start the child: ``python -m crmdesk.demo.process``, or, in a frozen bundle
    (PyInstaller: no ``-m``), the bundle's own executable with ``--demo-serve``
    (:data:`crmdesk.app.DEMO_SERVE`, routed by :func:`crmdesk.app.main`)."""
    if getattr(sys, "frozen", False):
        command = [sys.executable, "--demo-serve"]
    else:
        command = [sys.executable, "-m", "crmdesk.demo.process"]
    if dialects is not None:
        command += ["--dialects", ",".join(dialects)]
    return command


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Hand the child's output lines to whoever waits for an answer; None at the end."""
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):  # closed under us by stop()
        pass
    lines.put(None)


# -- the child --------------------------------------------------------------------------------


def serve(dialects: tuple[str, ...] | None, commands: IO[str], out: IO[str]) -> None:
    """Run a :class:`DemoServer` until ``commands`` ends, answering each command line."""
    server = DemoServer(dialects=dialects).start()
    faults: dict[int, Any] = {}
    try:
        hello = {
            "port": server.port,
            "dialects": list(server.apps),
            "credentials": dataclasses.asdict(server.credentials),
        }
        out.write(json.dumps(hello) + "\n")
        out.flush()
        for line in commands:
            try:
                answer = _obey(server, faults, json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                answer = {"ok": False, "error": str(exc) or type(exc).__name__}
            out.write(json.dumps(answer) + "\n")
            out.flush()
    finally:
        server.stop()


def _obey(server: DemoServer, faults: dict[int, Any], command: dict[str, Any]) -> dict[str, Any]:
    op = command["op"]
    if op == "inject":
        fault = server.faults.inject(
            str(command["path"]), str(command["kind"]), command["times"], method=command["method"]
        )
        faults[len(faults) + 1] = fault
        return {"ok": True, "fault": len(faults)}
    if op == "hits":
        return {"ok": True, "hits": faults[int(command["fault"])].hits}
    if op == "clear":
        server.faults.clear()
        return {"ok": True}
    if op == "expire_tokens":
        server.expire_tokens()
        return {"ok": True}
    raise ValueError(f"unknown command {op!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crmdesk.demo.process",
        description="Serve the demo CRM; speak the DemoProcess protocol on stdin/stdout.",
    )
    parser.add_argument("--dialects", help=f"comma-separated, of: {', '.join(DIALECT_APPS)}")
    args = parser.parse_args(argv)
    dialects = tuple(args.dialects.split(",")) if args.dialects else None
    try:
        serve(dialects, sys.stdin, sys.stdout)
    except KeyboardInterrupt:  # Ctrl-C in the terminal reaches parent and child alike
        pass
    except BrokenPipeError:  # the parent went away mid-answer
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
