"""Running the bot: long polling or a webhook server, following the store's
changes, and stopping gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update

from bot.control import ControlServer
from bot.telegram.application import register_commands
from bot.telegram.context import RawiApplication, Services

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    "message",
    "edited_message",  # an edited question gets its answer edited
    "callback_query",
    "inline_query",  # @bot QUESTION in any chat
    "channel_post",
    "edited_channel_post",
]


@dataclass(frozen=True)
class Webhook:
    """Webhook mode: Telegram POSTs updates to ``url``, which reaches this process at
    ``listen:port`` (usually through a TLS-terminating proxy)."""

    url: str
    listen: str = "127.0.0.1"
    port: int = 8443
    secret: str = ""

    def with_secret(self) -> Webhook:
        if self.secret:
            return self
        return Webhook(self.url, self.listen, self.port, secrets.token_urlsafe(32))


async def start_webhook_server(application: RawiApplication, hook: Webhook) -> web.AppRunner:
    """An HTTP server that takes Telegram's updates (checking the secret token on
    every request) and answers ``/healthz``."""
    path = urlsplit(hook.url).path or "/"

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), hook.secret.encode()):
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except Exception:
            return web.Response(status=400, text="not an update")
        await application.update_queue.put(update)
        return web.Response(text="ok")

    async def healthz(request: web.Request) -> web.Response:
        running = application.running
        return web.json_response({"ok": running}, status=200 if running else 503)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_get("/healthz", healthz)
    app.router.add_post(path, receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, hook.listen, hook.port).start()
    return runner


async def bot_health(application: RawiApplication, store: Any, where: str) -> tuple[bool, str]:
    """Whether the bot takes updates, Telegram answers and the store is readable:
    (healthy, one line) for ``rawi health``."""
    if not application.running:
        return False, "the bot is not taking updates"
    try:
        me = await asyncio.wait_for(application.bot.get_me(), 10)
    except Exception as exc:
        return False, f"Telegram does not answer ({type(exc).__name__}: {exc})"
    try:
        passages = await asyncio.to_thread(store.count_chunks)
    except Exception as exc:
        return False, f"the store cannot be read ({type(exc).__name__}: {exc})"
    return True, f"ok: @{me.username} is answering ({where}); {passages:,} passages"


async def follow_store(services: Services, stop: asyncio.Event) -> None:
    """Every ``follow_interval`` seconds, pick up what other processes (``rawi
    ingest`` against the same Chroma server) added or removed."""
    assert services.follow is not None
    failing = False
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), services.follow_interval)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(services.follow)
            if failing:
                log.info("the store is reachable again")
            failing = False
        except Exception as exc:
            if not failing:  # once per outage
                log.warning("cannot follow the store's changes: %s", exc)
            failing = True


async def serve(
    application: RawiApplication,
    services: Services,
    *,
    webhook: Webhook | None = None,
    grace: float = 10.0,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    poll_timeout: int = 10,
    control: ControlServer | None = None,
) -> None:
    """Run the bot until ``stop`` is set (or SIGINT/SIGTERM): stop taking updates,
    finish the answers in flight (for at most ``grace`` seconds), then exit."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # Answers wait on each other's query embeddings (they share forward passes), so
    # the worker pool must hold a crowd of them, not the default handful.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="answer"))
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    runner: web.AppRunner | None = None
    await application.initialize()
    try:
        await register_commands(application)
        await application.start()
        if webhook is not None:
            runner = await start_webhook_server(application, webhook)
            await application.bot.set_webhook(
                webhook.url, secret_token=webhook.secret, allowed_updates=ALLOWED_UPDATES
            )
            log.info("taking updates by webhook at %s", webhook.url)
        else:
            assert application.updater is not None
            await application.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, timeout=poll_timeout, poll_interval=0.0
            )
            log.info("taking updates by long polling")
        follower = asyncio.create_task(follow_store(services, stop)) if services.follow else None
        if control is not None:
            control.start(loop)
        await stop.wait()
        log.info("stopping: no new updates; finishing the answers in flight")
        if follower is not None:
            await follower
    finally:
        if control is not None:
            control.stop()
        if runner is not None:
            await runner.cleanup()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        started = time.monotonic()
        if not await services.drain(grace):
            log.warning("gave up on %d answer(s) still in flight", services.in_flight)
        if application.running:
            left = max(0.5, grace - (time.monotonic() - started))
            try:
                await asyncio.wait_for(application.stop(), left)
            except TimeoutError:
                log.warning("updates still pending after %.0f s; stopping anyway", grace)
        with contextlib.suppress(RuntimeError):
            await application.shutdown()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
