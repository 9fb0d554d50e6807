"""The ``rawi`` command line."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from bot.commands import COMMANDS, EXIT_FAILED, EXIT_USAGE, CliError
from bot.compose import Parts
from bot.control import BESIDE_THE_BOT, NotRunning, absolute_paths, run_in_bot
from config.settings import Settings, SettingsError, load_settings
from retrieval.scope import as_of_date
from retrieval.store.clients import DataDirLock, StoreError


# -- argument parsing -----------------------------------------------------
def _parser() -> argparse.ArgumentParser:
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


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.log_level:
        overrides["log_level"] = args.log_level
    emb = {k: v for k, v in (("model", args.model), ("dtype", args.dtype)) if v}
    if emb:
        overrides["embedding"] = emb
    chroma = {k: v for k, v in (("host", args.chroma_host), ("port", args.chroma_port)) if v}
    if chroma:
        overrides["chroma"] = chroma
    hook = {
        k: v
        for k, v in (
            ("webhook_url", getattr(args, "webhook_url", None)),
            ("webhook_listen", getattr(args, "listen", None)),
            ("webhook_port", getattr(args, "port", None)),
        )
        if v
    }
    if hook:
        overrides["telegram"] = hook
    return load_settings(overrides, config_file=args.config)


@contextmanager
def _errors_reported() -> Iterator[None]:
    try:
        yield
    except (SettingsError, StoreError, CliError) as exc:
        print(f"rawi: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE if isinstance(exc, SettingsError) else EXIT_FAILED) from None
    except BrokenPipeError:  # `rawi articles | head`
        sys.stderr.close()
        raise SystemExit(0) from None
    except ConnectionError as exc:  # the bot went away mid-command
        print(f"rawi: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        print(
            "rawi: interrupted; what was committed stays (an ingest run again continues "
            "where it stopped)",
            file=sys.stderr,
        )
        raise SystemExit(130) from None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else argv
    # what rawi writes (store, chat state, keys, exports, backups) is its owner's only
    os.umask(0o077)
    args = _parser().parse_args(argv)
    if args.command != "serve":  # serve stops gracefully on its own
        signal.signal(signal.SIGTERM, _interrupt)
    with _errors_reported():
        settings = settings_from_args(args)
        from bot.compose import redact_secrets, setup_logging

        setup_logging(settings.log_level)
        redact_secrets(
            [
                secret.get_secret_value()
                for secret in (
                    settings.telegram.token,
                    settings.telegram.webhook_secret,
                    settings.llm.api_key,
                )
                if secret is not None
            ]
        )
        if (
            args.command in BESIDE_THE_BOT
            and not settings.chroma.host
            and DataDirLock(settings.data_dir).held()
        ):
            # a bot is serving this data dir: it runs the command
            with contextlib.suppress(NotRunning):
                return run_in_bot(settings.data_dir, argv)
        app = Parts(settings)
        try:
            return COMMANDS[args.command](app, args)
        finally:
            app.close()


def run_here(app: Parts, argv: list[str], cwd: Path) -> int:
    """A command sent to the bot by ``rawi`` beside it (see :mod:`bot.control`),
    run on the bot's own parts; errors read as they would in a terminal."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed why
        return int(exc.code or 0)
    if args.command not in BESIDE_THE_BOT:
        print(f"rawi: {args.command} needs the store to itself: stop the bot first",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    absolute_paths(args, cwd)
    try:
        return COMMANDS[args.command](app, args)
    except (StoreError, CliError) as exc:
        print(f"rawi: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
