"""The ``rawi`` commands: each takes the parts of rawi and the parsed arguments,
and returns the exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from bot.args import parser
from bot.compose import Parts
from bot.control import BESIDE_THE_BOT, absolute_paths
from retrieval.scope import as_of_date
from retrieval.store.clients import StoreError
from retrieval.types import Answer

log = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_FAILED = 1


class CliError(Exception):
    """A user-facing error: printed without a traceback."""


def _progress(total: int | None, desc: str, unit: str = "article"):  # -> tqdm
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, smoothing=0.1
    )


# -- commands -------------------------------------------------------------
def cmd_ingest(app: Parts, args: argparse.Namespace) -> int:
    from retrieval.ingest.loaders import load_paths
    from retrieval.ingest.pipeline import IngestReport

    items = list(load_paths(args.paths))
    report = IngestReport()
    try:
        with _progress(len(items), "ingesting") as bar:
            app.ingestor.run(items, on_item=bar.update, report=report)
    except (KeyboardInterrupt, StoreError):
        report.interrupted = True  # say what was committed, then stop and say why
        _print_report(report, args.json)
        raise
    return _print_report(report, args.json)


def _print_report(report: Any, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        for origin, reason in report.failed:
            print(f"failed: {origin}: {reason}", file=sys.stderr)
        print(report.summary())
        if report.seconds and report.chunks:
            print(
                f"{report.chunks} chunks, {report.tokens} tokens in {report.seconds:.1f} s",
                file=sys.stderr,
            )
    if report.failed:  # a script must not take a partial ingest for a whole one
        print(f"rawi: {len(report.failed)} item(s) were not added", file=sys.stderr)
        return EXIT_FAILED
    return 0


def cmd_articles(app: Parts, args: argparse.Namespace) -> int:
    articles = app.store.catalogue.articles()
    for a in articles:
        if args.json:
            print(json.dumps(a.to_json(), ensure_ascii=False))
        else:
            date = (a.published or "")[:10] or "-"
            print(f"{a.id}\t{date}\t{a.source or '-'}\t{a.paragraphs}¶\t{a.title}")
    if not args.json:
        print(f"{len(articles)} articles", file=sys.stderr)
    return 0


def cmd_remove(app: Parts, args: argparse.Namespace) -> int:
    missing = [aid for aid in args.ids if not app.store.remove(aid)]
    for aid in missing:
        print(f"no article with id {aid}", file=sys.stderr)
    print(f"{len(args.ids) - len(missing)} removed")
    return EXIT_FAILED if missing else 0


def cmd_feeds(app: Parts, args: argparse.Namespace) -> int:
    if args.action in ("list", "remove"):  # the book alone: no model, no store
        book = app.feed_book()
        try:
            return _list_feeds(book) if args.action == "list" else _remove_feed(book, args.feed)
        finally:
            book.close()
    import asyncio

    from retrieval.ingest.loaders import LoadError

    feeds = app.feeds()
    try:
        if args.action == "add":
            try:
                feed, new, items = asyncio.run(feeds.add(args.url))
            except LoadError as exc:
                raise CliError(f"not added: {exc}") from None
            said = "following" if new else "already following"
            print(f"{said} {feed.title} ({feed.kind}, {items} items); `rawi feeds poll` reads them")
            return 0
        if args.feed is None:
            return _print_polls(asyncio.run(feeds.poll_all()), args.json)
        chosen = feeds.book.find(args.feed)
        if chosen is None:
            raise CliError(f"no feed {args.feed} (see `rawi feeds list`)")
        return _print_polls([asyncio.run(feeds.poll(chosen))], args.json)
    finally:
        feeds.book.close()


def _list_feeds(book: Any) -> int:
    for n, f in enumerate(book.feeds(), start=1):
        if f.failing_since is not None:
            state = f"failing: {f.error}"
        elif f.polled_at is not None:
            state = time.strftime("read %Y-%m-%d %H:%M UTC", time.gmtime(f.polled_at))
        else:
            state = "not read yet"
        print(f"{n}\t{f.kind}\t{f.items} items\t{state}\t{f.title}\t{f.url}")
    return 0


def _remove_feed(book: Any, key: str) -> int:
    feed = book.find(key)
    if feed is None:
        raise CliError(f"no feed {key} (see `rawi feeds list`)")
    book.remove(feed.id)
    print(f"no longer following {feed.title}; its articles stay")
    return 0


def _print_polls(polls: list[Any], as_json: bool) -> int:
    for p in polls:
        if as_json:
            out = {"feed": p.feed.url, "not_modified": p.not_modified, "error": p.error,
                   "skipped": p.skipped, "fetched": p.fetched, "rechecked": p.rechecked,
                   "pending": p.pending, "forgotten": p.forgotten,
                   "seconds": round(p.seconds, 3), **p.report.to_json()}  # fmt: skip
            print(json.dumps(out, ensure_ascii=False))
            continue
        if p.skipped:  # the bot's poll (or another `rawi feeds poll`) is under way
            print(f"{p.feed.title}: skipped: another poll of the feeds is under way; "
                  "try again once it is done", file=sys.stderr)  # fmt: skip
            continue
        if p.error is not None:
            print(f"{p.feed.title}: failed: {p.error}", file=sys.stderr)
            continue
        done = "not modified" if p.not_modified else p.report.summary()
        print(f"{p.feed.title}: {done} ({p.fetched} pages fetched, {p.rechecked} rechecked "
              f"in {p.seconds:.1f} s)")  # fmt: skip
        for origin, reason in p.report.failed:
            print(f"  not added: {origin}: {reason}", file=sys.stderr)
    return EXIT_FAILED if any(p.error is not None for p in polls) else 0


def cmd_reindex(app: Parts, args: argparse.Namespace) -> int:
    from retrieval.ingest.pipeline import reindex

    if app.store.needs_metadata_only():
        # same model: each chunk only needs its report's day and outlet
        chunks = sum(a.chunks for a in app.store.catalogue.articles())
        with _progress(chunks, "adding dates and outlets") as bar:
            n = app.store.add_report_meta(on_page=bar.update)
        app.lexical.clear()
        app.searcher.sync()
        print(f"{n} passages given their report's date and outlet (nothing re-embedded)")
        return 0
    total = len(app.store.catalogue.articles())
    with _progress(total, "re-embedding") as bar:
        n = reindex(app.store, app.ingestor, on_item=bar.update)
    # Chunk boundaries follow the model's tokenizer: rebuild the lexical index too.
    app.lexical.clear()
    app.searcher.sync()
    print(f"{n} articles re-embedded with {app.embedder.model_id}")
    return 0


def cmd_resync(app: Parts, args: argparse.Namespace) -> int:
    # On a shared server, spare the last hour: another process may be mid-write.
    min_age = 3600.0 if app.settings.chroma.host else 0.0
    chunks = app.store.resync(min_age)
    collections = app.store.drop_unused_collections(min_age)
    print(f"{chunks} orphaned chunks removed; {collections} unfinished reindex collection(s)")
    return 0


def cmd_export(app: Parts, args: argparse.Namespace) -> int:
    tmp = args.file.with_name(args.file.name + ".part")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for article in app.store.catalogue.iter_articles():
            fh.write(json.dumps(article.to_record(), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(args.file)  # never a half-written backup under the real name
    print(f"{n} articles exported to {args.file}")
    return 0


def cmd_import(app: Parts, args: argparse.Namespace) -> int:
    if args.file.suffix.lower() != ".jsonl":
        raise CliError("import reads a .jsonl file written by `rawi export`")
    args.paths, args.json = [args.file], False
    return cmd_ingest(app, args)


def cmd_backup(app: Parts, args: argparse.Namespace) -> int:
    from bot import backup

    start = time.monotonic()
    backup.check_target(args.dir)
    total = len(app.store.catalogue.articles())
    with _progress(total, "backing up") as bar:
        manifest = backup.write(app.store, app.settings.data_dir, args.dir, bar.update)
    chat = " and the chat state" if backup.CHAT in manifest["files"] else ""
    print(
        f"{manifest['articles']} articles ({manifest['chunks']} passages with their vectors)"
        f"{chat} backed up to {args.dir} in {time.monotonic() - start:.1f} s"
    )
    return 0


def cmd_restore(app: Parts, args: argparse.Namespace) -> int:
    from bot import backup

    start = time.monotonic()
    manifest = backup.check(app.store, args.dir, app.settings.data_dir)
    with _progress(manifest["articles"], "restoring") as bar:
        chat = backup.read(
            app.store, args.dir, app.settings.data_dir, bar.update, manifest=manifest
        )
    # The lexical index is derived: each restored article replaced its entries as it
    # was committed; whatever else it held goes now.
    app.searcher.sync()
    also = " and the chat state" if chat else ""
    print(
        f"{manifest['articles']} articles ({manifest['chunks']} passages){also} restored"
        f" from {args.dir} in {time.monotonic() - start:.1f} s; nothing re-embedded"
    )
    return 0


def cmd_info(app: Parts, args: argparse.Namespace) -> int:
    info = {
        **app.store.catalogue.coverage(),
        "chunks": app.store.count_chunks(),
        "model": app.embedder.model_id,
        "data_dir": str(app.settings.data_dir) if not app.settings.chroma.host else None,
    }
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        for key, value in info.items():
            shown = ", ".join(value) or "-" if isinstance(value, list) else value
            print(f"{key}: {shown if shown is not None else '-'}")
    return 0


def _batch_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or an error string) for each non-empty line."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, f"line {lineno}: invalid JSON ({exc.msg})"


def run_batch(
    path: Path, handle: Callable[[str, date | None], dict[str, Any]], as_of: date | None = None
) -> int:
    """Answer each ``{"id", "question"}`` line with ``{"id", ...}`` (or ``{"id",
    "error"}``); a line's ``"as_of"`` (YYYY-MM-DD) is its reader's today, over
    ``as_of``."""
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    items = list(_batch_lines(path))
    failed = 0
    with _progress(len(items), "questions", unit="q") as bar:
        for lineno, obj in items:
            qid = obj.get("id") if isinstance(obj, dict) else None
            out: dict[str, Any] = {"id": qid if qid is not None else f"line-{lineno}"}
            question = obj.get("question") if isinstance(obj, dict) else None
            if isinstance(obj, str):
                out["error"] = obj
            elif not isinstance(question, str) or not question.strip():
                out["error"] = f"line {lineno}: expected an object with a non-empty 'question'"
            else:
                try:
                    out.update(handle(question, as_of_date(obj.get("as_of")) or as_of))
                except (StoreError, ValueError) as exc:
                    out["error"] = str(exc)
                except Exception as exc:  # one bad line must not stop the rest
                    log.exception("line %d failed", lineno)
                    out["error"] = f"line {lineno}: {type(exc).__name__}: {exc}"
            failed += "error" in out
            print(json.dumps(out, ensure_ascii=False), flush=True)
            bar.update(1)
    return EXIT_FAILED if failed == len(items) and items else 0


def cmd_search(app: Parts, args: argparse.Namespace) -> int:
    from retrieval.search import BELOW_THRESHOLD

    k = args.k or app.settings.search.k
    if k <= 0:
        raise CliError("--k must be positive")
    qa = app.qa

    def handle(question: str, today: date | None) -> dict[str, Any]:
        return {"hits": [h.to_json() for h in qa.search(question, k, today).hits]}

    if args.batch:
        return run_batch(args.batch, handle, args.as_of)
    if not args.question or not args.question.strip():
        raise CliError("give a question, or --batch FILE")
    result = qa.search(args.question, k, args.as_of)
    if args.json:
        print(json.dumps({"hits": [h.to_json() for h in result.hits]}, ensure_ascii=False))
        return 0
    if result.refusal == BELOW_THRESHOLD:
        print("(no passage scores above the relevance threshold: the coverage may not answer this)")
    elif result.refusal:
        print(f"(the passages found do not state the {result.refusal} the question asks about)")
    for i, h in enumerate(result.hits, start=1):
        meta = " · ".join(x for x in (h.source, (h.published or "")[:10]) if x)
        print(f"[{i}] {h.score:.3f}  {h.title}  ¶{h.paragraph}  {meta}")
        print(f"    {h.text}")
        if h.url:
            print(f"    {h.url}")
    return 0


def format_answer(answer: Answer) -> str:
    """Plain text for a terminal: the answer, then its numbered sources."""
    lines = [answer.text]
    if answer.citations:
        lines.append("")
    for c, *_ in answer.sources():
        meta = ", ".join(x for x in (c.outlet or c.source, (c.published or "")[:10]) if x)
        lines.append(f"[{c.n}] {c.title}{f' ({meta})' if meta else ''}, ¶{c.paragraph}")
        if c.url:
            lines.append(f"    {c.url}")
    return "\n".join(lines)


def cmd_ask(app: Parts, args: argparse.Namespace) -> int:
    qa = app.qa

    def handle(question: str, today: date | None) -> dict[str, Any]:
        return qa.ask(question, today=today).answer.to_json()

    if args.batch:
        return run_batch(args.batch, handle, args.as_of)
    if not args.question or not args.question.strip():
        raise CliError("give a question, or --batch FILE")
    answer = qa.ask(args.question, today=args.as_of).answer
    print(json.dumps(answer.to_json(), ensure_ascii=False) if args.json else format_answer(answer))
    return 0


def cmd_chat(app: Parts, args: argparse.Namespace) -> int:
    from retrieval.service import HISTORY_TURNS, Turn

    qa = app.qa
    history: list[Turn] = []
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask about the coverage (Arabic or English); an empty line or Ctrl-D ends.")
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line or (interactive and not line.strip()):
            return 0
        question = line.strip()
        if not question:
            continue
        reply = qa.ask(question, history, today=getattr(args, "as_of", None))  # not on `run`
        if reply.result is not None:  # small talk is no turn of the conversation
            turn = Turn(question, reply.answer.text, reply.topic, qa.clock())
            history = [*history, turn][-HISTORY_TURNS:]
        if args.json:
            print(json.dumps(reply.answer.to_json(), ensure_ascii=False), flush=True)
        else:
            print(format_answer(reply.answer) + "\n", flush=True)


SAMPLE_DIR = Path(__file__).resolve().parent.parent / "config" / "sample"


def ingest_sample_if_empty(app: Parts) -> None:
    """A fresh data dir gets the project's sample corpus, once."""
    if app.store.catalogue.articles():
        return
    from retrieval.ingest.loaders import load_paths

    files = sorted(SAMPLE_DIR.glob("*.md"))
    print(f"empty store: adding the {len(files)} sample articles", file=sys.stderr)
    report = app.ingestor.run(load_paths(files))
    print(f"sample corpus: {report.summary()}", file=sys.stderr)


def cmd_health(app: Parts, args: argparse.Namespace) -> int:
    from bot.control import health

    ok, line = health(app.settings.data_dir)
    print(line if ok else f"unhealthy: {line}")
    return 0 if ok else EXIT_FAILED


def cmd_serve(app: Parts, args: argparse.Namespace) -> int:
    import asyncio

    from bot.compose import limit_malloc_arenas, redact_secrets
    from bot.control import ControlServer
    from bot.telegram.server import Webhook, bot_health, serve

    tg = app.settings.telegram
    if tg.token is None or not tg.token.get_secret_value().strip():
        raise CliError(
            "no bot token: set RAWI_TELEGRAM__TOKEN (or TELEGRAM_BOT_TOKEN) in the environment"
        )
    hook = None
    if tg.webhook_url:
        if not tg.webhook_url.startswith("https://"):
            raise CliError(f"the webhook URL must be https:// (got {tg.webhook_url})")
        secret = tg.webhook_secret.get_secret_value() if tg.webhook_secret else ""
        hook = Webhook(tg.webhook_url, tg.webhook_listen, tg.webhook_port, secret).with_secret()
    if hook is not None:
        redact_secrets([hook.secret])
    limit_malloc_arenas()  # before the model's and the answers' threads start
    app.embedder.warm()  # load the model before taking updates
    application, services = app.bot()
    where = f"webhook {hook.url} (listening on {hook.listen}:{hook.port})" if hook else "polling"
    admin = application.bot_data.admin
    # `rawi health`, and on the embedded store every other rawi command, go through us
    control = ControlServer(
        app.settings.data_dir,
        run=lambda argv, cwd: run_here(app, argv, cwd),
        health=lambda: bot_health(application, app.store, where),
        lock=admin.ingest_lock if admin is not None else None,
    )
    print(f"rawi is answering on Telegram ({where}); Ctrl-C stops it", file=sys.stderr)
    from telegram.error import InvalidToken, NetworkError

    try:
        asyncio.run(
            serve(application, services, webhook=hook, grace=tg.shutdown_grace, control=control)
        )
    except InvalidToken:
        # python-telegram-bot's message quotes the token: say it without
        raise CliError(
            "Telegram refused the bot token: check RAWI_TELEGRAM__TOKEN (from @BotFather)"
        ) from None
    except NetworkError as exc:  # at start: once serving, the bot retries by itself
        raise CliError(
            f"Telegram did not answer ({type(exc).__name__}: {exc}); check the network and "
            "RAWI_TELEGRAM__API_URL, then start again"
        ) from None
    finally:
        services.state.close()
    return 0


def cmd_run(app: Parts, args: argparse.Namespace) -> int:
    """`make run`: the bot when a token is set; otherwise the sample corpus on first
    use, then questions from the terminal."""
    if app.settings.telegram.token is not None:
        return cmd_serve(app, args)
    ingest_sample_if_empty(app)
    args.json = False
    return cmd_chat(app, args)


def run_here(app: Parts, argv: list[str], cwd: Path) -> int:
    """A command sent to the bot by ``rawi`` beside it (see :mod:`bot.control`),
    run on the bot's own parts; errors read as they would in a terminal."""
    try:
        args = parser().parse_args(argv)
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


COMMANDS: dict[str, Callable[[Parts, argparse.Namespace], int]] = {
    "ingest": cmd_ingest,
    "articles": cmd_articles,
    "feeds": cmd_feeds,
    "remove": cmd_remove,
    "reindex": cmd_reindex,
    "resync": cmd_resync,
    "export": cmd_export,
    "import": cmd_import,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "info": cmd_info,
    "run": cmd_run,
    "search": cmd_search,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "serve": cmd_serve,
    "health": cmd_health,
}
