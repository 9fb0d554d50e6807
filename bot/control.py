"""The CLI beside a running bot.

Chroma's embedded store belongs to one process, so while ``rawi serve`` holds a
data dir, a ``rawi articles``, ``export``, ``backup``, ``ingest`` or ``remove``
started beside it is run *by the bot*: the bot listens on a loopback port named,
with a secret, in ``DATA_DIR/control.json`` (readable by the data dir's owner
only); the CLI sends its arguments there and prints what comes back. Writes take
the same lock as the admins' Telegram writes, so they queue behind each other;
readers keep getting answers meanwhile. ``rawi health`` asks the same way.

The wire: the client sends one JSON line (secret, argv, working dir); the bot
answers with JSON lines ``{"out": text}``, ``{"err": text}`` and a last
``{"exit": code}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import io
import json
import logging
import os
import secrets
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

FILE = "control.json"
# What may run inside a serving bot; the rest needs the store to itself
# (reindex, resync, restore) or a terminal (chat, run), or is the bot (serve).
BESIDE_THE_BOT = frozenset({"articles", "info", "export", "backup", "ingest", "import",
                            "remove", "search", "ask", "feeds"})  # fmt: skip
WRITES = frozenset({"backup", "ingest", "import", "remove", "feeds"})


class NotRunning(Exception):
    """No bot answers on this data dir."""


# -- the bot's side ---------------------------------------------------------------


class _ThreadStreams(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while the bot serves: a control command's
    thread writes to its client; every other thread to the real stream."""

    def __init__(self, real: TextIO, local: threading.local, name: str) -> None:
        self._real, self._local, self._name = real, local, name

    def write(self, s: str) -> int:
        send = getattr(self._local, "send", None)
        if send is None:
            return self._real.write(s)
        send({self._name: s})
        return len(s)

    def flush(self) -> None:
        if getattr(self._local, "send", None) is None:
            self._real.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._real.fileno()


Runner = Callable[[list[str], Path], int]
Health = Callable[[], Coroutine[Any, Any, tuple[bool, str]]]
HEALTH_TIMEOUT = 15.0


class ControlServer:
    """Takes CLI commands for a serving bot (see the module's docstring).
    ``run(argv, cwd)`` runs one command (on a thread of its own) and returns its
    exit code; ``health()`` says, on the bot's event loop, whether the bot is
    well, in one line; ``lock``, the admins' write lock, is held around the
    commands that write."""

    def __init__(
        self, data_dir: Path, run: Runner, health: Health, lock: asyncio.Lock | None = None
    ) -> None:
        self.path = data_dir / FILE
        self._run, self._health, self._lock = run, health, lock
        self._secret = secrets.token_hex(16)
        self._local = threading.local()
        self._server: socketserver.TCPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._lock is None or self._loop is None:
            yield
            return
        asyncio.run_coroutine_threadsafe(self._lock.acquire(), self._loop).result()
        try:
            yield
        finally:
            self._loop.call_soon_threadsafe(self._lock.release)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        control = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                control._handle(self.rfile, self.wfile)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
        tmp = self.path.with_name(FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"port": server.server_address[1], "secret": self._secret,
                       "pid": os.getpid()}, fh)  # fmt: skip
        tmp.replace(self.path)
        if not isinstance(sys.stdout, _ThreadStreams):
            sys.stdout = _ThreadStreams(sys.stdout, self._local, "out")
            sys.stderr = _ThreadStreams(sys.stderr, self._local, "err")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if isinstance(stream, _ThreadStreams):
                setattr(sys, name, stream._real)

    def _handle(self, rfile: Any, wfile: Any) -> None:
        lock = threading.Lock()

        def send(frame: dict[str, Any]) -> None:
            with lock:
                wfile.write(json.dumps(frame, ensure_ascii=False).encode() + b"\n")
                wfile.flush()

        try:
            request = json.loads(rfile.readline(1 << 20) or b"{}")
            if not hmac.compare_digest(str(request.get("secret", "")), self._secret):
                send({"err": "rawi: refused (wrong secret)\n"})
                send({"exit": 1})
                return
            if request.get("health"):
                assert self._loop is not None
                try:
                    check = asyncio.run_coroutine_threadsafe(self._health(), self._loop)
                    ok, line = check.result(HEALTH_TIMEOUT)
                except Exception as exc:  # the check itself failed or hung
                    ok, line = False, f"the health check failed ({type(exc).__name__}: {exc})"
                send({"out": line + "\n"})
                send({"exit": 0 if ok else 1})
                return
            argv, cwd = [str(a) for a in request["argv"]], Path(request["cwd"])
            self._local.send = send
            try:
                send({"exit": self._command(argv, cwd)})
            finally:
                self._local.send = None
        except (OSError, ValueError, KeyError) as exc:  # the client went away, or spoke nonsense
            log.info("a control connection ended: %s", exc)

    def _command(self, argv: list[str], cwd: Path) -> int:
        command = next((a for a in argv if a in BESIDE_THE_BOT), None)
        try:
            with self._exclusive() if command in WRITES else contextlib.nullcontext():
                return self._run(argv, cwd)
        except Exception as exc:  # the bot goes on; the client hears why
            log.exception("rawi %s, sent to the bot, failed", command)
            print(f"rawi: {command} failed in the bot ({type(exc).__name__}: {exc})",
                  file=sys.stderr)  # fmt: skip
            return 1


# -- the CLI's side ---------------------------------------------------------------


def _frames(data_dir: Path, request: dict[str, Any], timeout: float | None) -> Iterator[Any]:
    try:
        info = json.loads((data_dir / FILE).read_text())
    except (OSError, ValueError):
        raise NotRunning(f"no rawi bot is serving {data_dir}") from None
    try:
        sock = socket.create_connection(("127.0.0.1", int(info["port"])), timeout=5)
    except OSError:
        raise NotRunning(f"the rawi bot of {data_dir} is not answering (stopped?)") from None
    with sock, sock.makefile("rwb") as stream:
        sock.settimeout(timeout)
        stream.write(json.dumps({**request, "secret": info["secret"]}).encode() + b"\n")
        stream.flush()
        for line in stream:
            yield json.loads(line)


def run_in_bot(data_dir: Path, argv: list[str]) -> int:
    """Run ``rawi ARGV`` inside the bot serving ``data_dir``; its output is printed
    here as it comes. Raises :class:`NotRunning` when no bot answers."""
    request = {"argv": argv, "cwd": str(Path.cwd())}
    for frame in _frames(data_dir, request, timeout=None):
        if "out" in frame:
            sys.stdout.write(frame["out"])
            sys.stdout.flush()
        elif "err" in frame:
            sys.stderr.write(frame["err"])
            sys.stderr.flush()
        elif "exit" in frame:
            return int(frame["exit"])
    raise ConnectionError("the bot closed the connection before the command ended (stopped?)")


def health(data_dir: Path, timeout: float = 20.0) -> tuple[bool, str]:
    """(healthy, one line) from the bot serving ``data_dir``."""
    try:
        line, code = "", 1
        for frame in _frames(data_dir, {"health": True}, timeout=timeout):
            line += frame.get("out", "") + frame.get("err", "")
            code = int(frame.get("exit", code))
        return code == 0, line.strip() or "no answer"
    except NotRunning as exc:
        return False, str(exc)
    except (OSError, ValueError) as exc:
        return False, f"the bot did not answer ({exc})"


def absolute_paths(args: argparse.Namespace, cwd: Path) -> None:
    """Make the path arguments of a command sent from ``cwd`` absolute."""
    for key, value in vars(args).items():
        if isinstance(value, Path) and not value.is_absolute():
            setattr(args, key, cwd / value)
        elif isinstance(value, list) and value and all(isinstance(v, Path) for v in value):
            setattr(args, key, [v if v.is_absolute() else cwd / v for v in value])
