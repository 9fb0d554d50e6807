"""Feeds in the bot: ``/feed add URL``, ``/feed remove URL|N`` and ``/feeds`` for
admins, and the job that polls each feed every ``[feeds] poll_interval`` seconds
(it asks every minute which feeds are due).

A feed added is read at once (so a wrong address is said at once), then polled in
the background, and the admin hears what its first poll added. A feed that stops
working is told to the admins once, when its outage begins, and once when it
works again; the polls in between only log.
"""

from __future__ import annotations

import logging
import time

from telegram import Message, Update
from telegram.ext import CommandHandler

from bot.telegram.admin import SUMMARY_LINES, admins_only, tell_admins
from bot.telegram.context import Admin, Context, RawiApplication
from bot.telegram.render import pack
from bot.telegram.texts import count, lang_of, number, text
from retrieval.feeds import Feed, Feeds, Poll
from retrieval.ingest.loaders import LoadError
from retrieval.ingest.reasons import say

log = logging.getLogger(__name__)

KINDS = {"rss": "RSS", "atom": "Atom", "sitemap": "sitemap"}


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def _summary(poll: Poll, lang: str) -> list[str]:
    """What a poll did, in lines: the counts, then each item not added and why."""
    if poll.error is not None:
        return [text("feed_failing", lang, title=poll.feed.title, why=say(poll.error, lang))]
    r = poll.report
    summary = text(
        "summary", lang, added=number(len(r.added), lang), updated=number(len(r.updated), lang),
        unchanged=number(len(r.unchanged), lang), failed=number(len(r.failed), lang),
    )  # fmt: skip
    lines = [text("feed_first_poll", lang, title=poll.feed.title, summary=summary)]
    failed = [f"{text('refused', lang)}: {url} — {say(why, lang)}" for url, why in r.failed]
    if len(failed) > SUMMARY_LINES:
        more = number(len(failed) - SUMMARY_LINES, lang)
        failed = [*failed[:SUMMARY_LINES], text("more", lang, n=more)]
    return lines + failed


async def _reply(message: Message, lines: list[str]) -> None:
    for part in pack(lines, separator="\n"):
        await message.reply_text(part)


async def _first_poll(message: Message, feeds: Feeds, feed: Feed, lang: str) -> None:
    poll = await feeds.poll(feed)
    if poll.skipped:  # `rawi feeds poll` has the turn: the next poll of the bot reads it
        await message.reply_text(text("feed_poll_skipped", lang, title=feed.title))
        return
    log.info("first poll of %s: %s", feed.url, poll.error or poll.report.summary())
    await _reply(message, _summary(poll, lang))


@admins_only
async def feed_command(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None
    feeds, lang = _feeds(context.admin), lang_of(update)
    args = context.args or []
    if len(args) != 2 or args[0].lower() not in ("add", "remove"):
        await message.reply_text(text("feed_usage", lang))
        return
    action, key = args[0].lower(), args[1]
    if action == "remove":
        feed = feeds.book.find(key)
        if feed is None:
            await message.reply_text(text("feed_unknown", lang, which=key))
            return
        feeds.book.remove(feed.id)
        await message.reply_text(text("feed_removed", lang, title=feed.title))
        return
    try:
        feed, new, items = await feeds.add(key)
    except LoadError as exc:
        await message.reply_text(f"{text('feed_not_added', lang)}: {say(exc.reason, lang)}")
        return
    if not new:
        n = next(i for i, f in enumerate(feeds.book.feeds(), start=1) if f.id == feed.id)
        await message.reply_text(text("feed_known", lang, title=feed.title, n=number(n, lang)))
        return
    listed = count(items, "item", lang)
    await message.reply_text(
        text("feed_added", lang, title=feed.title, kind=KINDS[feed.kind], items=listed)
    )
    context.application.create_task(_first_poll(message, feeds, feed, lang))


@admins_only
async def feeds_command(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None
    feeds, lang = _feeds(context.admin), lang_of(update)
    listed = feeds.book.feeds()
    if not listed:
        await message.reply_text(text("no_feeds", lang))
        return
    lines = [text("feeds_head", lang)]
    for n, f in enumerate(listed, start=1):
        when = _when(f.polled_at) if f.polled_at else text("feed_never", lang)
        state = text("feed_line", lang, items=count(f.items, "item", lang), when=when)
        if f.failing_since is not None and f.error is not None:
            why = say(f.error, lang)
            state += " · " + text("feed_failing_since", lang, when=_when(f.failing_since), why=why)
        lines += [f"{number(n, lang)}. {f.title} — {f.url}", f"    {KINDS[f.kind]} · {state}"]
    await _reply(message, lines)


def _feeds(admin: Admin) -> Feeds:
    assert admin.feeds is not None, "the feed handlers are added only with feeds"
    return admin.feeds


async def poll_feeds(context: Context) -> None:
    """The repeating job: poll the feeds that are due, in a task of its own (a
    poll may outlast the job's period; the job then waits for the next)."""
    admin = context.bot_data.admin
    if admin is None or admin.feeds is None or admin.feeds.busy:
        return
    context.application.create_task(_poll_due(context, admin), name="feeds")


async def _poll_due(context: Context, admin: Admin) -> None:
    """Poll the feeds that are due; tell the admins of an outage that begins, and
    of its end."""
    assert admin.feeds is not None
    for poll in await admin.feeds.poll_due():
        if poll.skipped:  # polled by another process meanwhile (logged); due again later
            continue
        if poll.error is None:
            done = "not modified" if poll.not_modified else poll.report.summary()
            log.info("feed %s: %s (%d rechecked, %d forgotten)", poll.feed.url, done,
                     poll.rechecked, poll.forgotten)  # fmt: skip
        if poll.began_failing or poll.recovered:
            await _tell_admins(context, admin, poll)


async def _tell_admins(context: Context, admin: Admin, poll: Poll) -> None:
    def said(lang: str) -> list[str]:
        if poll.error is not None:
            return [text("feed_failing", lang, title=poll.feed.title, why=say(poll.error, lang))]
        return [text("feed_recovered", lang, title=poll.feed.title)]

    await tell_admins(context.bot, admin, said, f"the feed {poll.feed.url}")


def schedule(application: RawiApplication, every: float) -> None:
    """Every ``every`` seconds while the application runs, poll the feeds that are due."""
    if application.job_queue is None:
        log.warning("feeds are not polled: python-telegram-bot's job queue is not installed")
        return
    application.job_queue.run_repeating(poll_feeds, every, first=every, name="feeds")


def setup(application: RawiApplication) -> None:
    """The feed commands and the poll job, when the admins have feeds."""
    admin = application.bot_data.admin
    if admin is None or admin.feeds is None:
        return
    application.add_handler(CommandHandler("feed", feed_command))
    application.add_handler(CommandHandler("feeds", feeds_command))
    schedule(application, admin.feeds.check_every)
