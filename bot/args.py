"""The ``rawi`` command line's arguments."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from retrieval.scope import as_of_date


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rawi",
        description="Answers questions about a collection of news articles, citing paragraphs.",
    )
    p.add_argument("--config", type=Path, help="a TOML settings file over the defaults")
    p.add_argument("--data-dir", type=Path, help="where the store and the bot write")
    p.add_argument("--model", help="sentence-transformers model name or path")
    p.add_argument("--dtype", choices=["auto", "bf16", "fp32"], help="embedding precision")
    p.add_argument("--chroma-host", help="use the Chroma server at this host")
    p.add_argument("--chroma-port", type=int, help="port of the Chroma server")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", help="add articles from files, folders and zip archives")
    s.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    s.add_argument("--json", action="store_true", help="print the report as JSON")

    s = sub.add_parser("feeds", help="follow RSS/Atom feeds and sitemaps: add, list, remove, poll")
    feeds = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    f = feeds.add_parser("add", help="follow the feed or sitemap at URL (read once to check it)")
    f.add_argument("url", metavar="URL")
    feeds.add_parser("list", help="the feeds followed, numbered, with their state")
    f = feeds.add_parser("remove", help="stop following a feed (its articles stay)")
    f.add_argument("feed", metavar="URL|N")
    f = feeds.add_parser("poll", help="poll every feed now (or one), adding what is new")
    f.add_argument("feed", nargs="?", metavar="URL|N")
    f.add_argument("--json", action="store_true", help="one JSON object per feed")

    s = sub.add_parser("articles", help="list the articles in the store")
    s.add_argument("--json", action="store_true", help="one JSON object per line")

    s = sub.add_parser("remove", help="remove articles by id")
    s.add_argument("ids", nargs="+", metavar="ID")

    sub.add_parser(
        "reindex",
        help="re-embed every article with the configured model (a store that only lacks"
        " its passages' dates and outlets gets them without re-embedding)",
    )
    sub.add_parser("resync", help="delete chunks left behind by interrupted writes")

    s = sub.add_parser("export", help="write every article to a JSONL file")
    s.add_argument("file", type=Path, metavar="FILE.jsonl")

    s = sub.add_parser("import", help="read articles from an exported JSONL file")
    s.add_argument("file", type=Path, metavar="FILE.jsonl")

    s = sub.add_parser(
        "backup",
        help="copy the store with its vectors, and the chat state, into a new folder",
    )
    s.add_argument("dir", type=Path, metavar="DIR")

    s = sub.add_parser(
        "restore",
        help="fill an empty store, and the chat state, from a backup (nothing re-embedded)",
    )
    s.add_argument("dir", type=Path, metavar="DIR")

    batch_help = 'JSONL of {"id", "question"} (and "as_of": YYYY-MM-DD, that line\'s today)'
    as_of_help = 'treat YYYY-MM-DD as today ("yesterday", "the latest"): for archives'
    s = sub.add_parser("search", help="find the passages that answer a question")
    s.add_argument("question", nargs="?", help="the question (or use --batch)")
    s.add_argument("--k", type=int, help="how many hits (default: the search.k setting)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--batch", type=Path, metavar="FILE", help=batch_help)
    s.add_argument("--as-of", type=_as_of, metavar="YYYY-MM-DD", help=as_of_help)

    s = sub.add_parser("ask", help="answer a question, citing the paragraphs used")
    s.add_argument("question", nargs="?", help="the question (or use --batch)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--batch", type=Path, metavar="FILE", help=batch_help)
    s.add_argument("--as-of", type=_as_of, metavar="YYYY-MM-DD", help=as_of_help)

    s = sub.add_parser("chat", help="questions from standard input, one per line, with follow-ups")
    s.add_argument("--json", action="store_true", help="one JSON answer per line")
    s.add_argument("--as-of", type=_as_of, metavar="YYYY-MM-DD", help=as_of_help)

    s = sub.add_parser(
        "serve", help="run the Telegram bot (long polling, or a webhook with --webhook-url)"
    )
    s.add_argument("--webhook-url", help="public HTTPS URL Telegram posts updates to")
    s.add_argument("--listen", help="address the webhook server listens on")
    s.add_argument("--port", type=int, help="port the webhook server listens on")

    s = sub.add_parser("info", help="what is in the store")
    s.add_argument("--json", action="store_true")

    sub.add_parser(
        "health",
        help="whether the bot serving this data dir is well: one line, and exit code 0 "
        "(healthy) or 1",
    )

    sub.add_parser(
        "run",
        help="what `make run` does: the bot when a token is set; otherwise the sample "
        "corpus into an empty store, then chat",
    )
    return p


def _as_of(value: str) -> date | None:
    try:
        return as_of_date(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
