"""Read articles from files: .txt/.md, .html, .json, .jsonl, and .zip archives of those.

Every item comes back as a :class:`Loaded`, either an article or the reason it
could not be read, so that one bad file or item never stops the others.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from retrieval.ingest.reasons import Reason
from retrieval.text import clean_paragraph, detect_language, split_blank_lines, split_lines
from retrieval.types import Article

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | {".zip"}
TITLE_FALLBACK_CHARS = 80


class LoadError(ValueError):
    """An item cannot become an article; ``reason`` says why (see :mod:`.reasons`)."""

    def __init__(self, code: str, **details: Any) -> None:
        self.reason = Reason(code, **details)
        super().__init__(self.reason)


@dataclass(frozen=True)
class Loaded:
    origin: str  # file, and the item inside it where there are several
    article: Article | None = None
    error: str | None = None


def normalise_url(url: str) -> str:
    """One spelling per page: scheme and host case, default port, parameter order,
    tracking parameters (utm_*, fbclid...) and the fragment do not make another page.
    Other query parameters stay: on many news sites (``News_Detail.aspx?ArticleID=…``)
    they are what names the article."""
    from urllib.parse import urldefrag

    from courlan import normalize_url

    try:
        # not strict: courlan's strict mode drops every parameter it does not know
        return urldefrag(str(normalize_url(url.strip(), strict=False))).url
    except Exception:  # courlan raises on some malformed URLs; keep what was given
        return url.strip()


def _hash_id(prefix: str, *parts: str) -> str:
    h = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8)
    return f"{prefix}{h.hexdigest()}"


def article_id(given: object, url: str | None, title: str, text: str) -> str:
    """The given id; else one derived from the normalised URL; else from title and text."""
    if given is not None and str(given).strip():
        return str(given).strip()
    if url:
        return _hash_id("u", normalise_url(url))
    return _hash_id("h", title, text)


def iso_date(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value).isoformat()
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _opt(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def make_article(
    paragraphs: list[str],
    *,
    title: str | None = None,
    given_id: object = None,
    url: str | None = None,
    source: str | None = None,
    published: object = None,
    author: str | None = None,
    language: str | None = None,
) -> Article:
    paragraphs = [p for p in (clean_paragraph(p) for p in paragraphs) if p]
    title = clean_paragraph(title or "")
    if not paragraphs:
        raise LoadError("no_text")
    if not title:
        first = paragraphs[0]
        title = first if len(first) <= TITLE_FALLBACK_CHARS else first[:TITLE_FALLBACK_CHARS] + "…"
    text = "\n\n".join(paragraphs)
    url = _opt(url)
    return Article(
        id=article_id(given_id, url, title, text),
        title=title,
        paragraphs=tuple(paragraphs),
        url=url,
        source=_opt(source),
        published=iso_date(published),
        author=_opt(author),
        language=_opt(language) or detect_language(title + "\n" + text),
    )


def article_from_record(record: Any) -> Article:
    """A JSON object: ``text`` or ``content`` (or ``paragraphs``) and optional metadata."""
    if not isinstance(record, dict):
        raise LoadError("not_object", kind=type(record).__name__)
    if isinstance(record.get("paragraphs"), list):
        paragraphs = [str(p) for p in record["paragraphs"]]
    else:
        body = record.get("text") or record.get("content")
        if not isinstance(body, str) or not body.strip():
            raise LoadError("no_text_field")
        paragraphs = split_lines(body)
    return make_article(
        paragraphs,
        title=_opt(record.get("title")),
        given_id=record.get("id"),
        url=_opt(record.get("url")),
        source=_opt(record.get("source")),
        published=record.get("published") or record.get("date_extracted") or record.get("date"),
        author=_opt(record.get("author")),
        language=_opt(record.get("language")),
    )


def article_from_text(text: str, **meta: Any) -> Article:
    """Plain text: the first non-empty line is the title; blank lines separate
    paragraphs. A text of one line (a breaking-news post) is its own title and body."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip():
            title = line.strip().lstrip("#").strip()
            body = split_blank_lines("\n".join(lines[i + 1 :])) or [title]
            return make_article(body, title=title, **meta)
    raise LoadError("empty_file")


# Shorter extractions are navigation or boilerplate, not an article.
MIN_HTML_TEXT = 50


def _trafilatura_config():  # -> configparser.ConfigParser
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_OUTPUT_SIZE", str(MIN_HTML_TEXT))
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")  # its signal-based timeout breaks threads
    return config


def article_from_html(html: str, url: str | None = None) -> Article:
    import trafilatura

    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        favor_precision=True,
        config=_trafilatura_config(),
        # the page's own metadata only: no date guessed from "Copyright 2015" or
        # any other year in the text
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    body = getattr(doc, "text", None) if doc is not None else None
    if not body or not body.strip():
        raise LoadError("no_main_text")
    title = getattr(doc, "title", None)
    paragraphs = split_lines(body)
    # the page's headline is its title, not paragraph 1 (citations count from the text)
    while paragraphs and title and clean_paragraph(paragraphs[0]) == clean_paragraph(title):
        paragraphs = paragraphs[1:]
    return make_article(
        paragraphs,
        title=title,
        url=url or getattr(doc, "url", None),
        source=getattr(doc, "sitename", None) or getattr(doc, "hostname", None),
        published=getattr(doc, "date", None),
        author=getattr(doc, "author", None),
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError("not_utf8", why=exc.reason, at=exc.start) from exc


def load_bytes(name: str, data: bytes) -> Iterator[Loaded]:
    """The articles in one file's content; ``name`` gives the format and the origin."""
    suffix = PurePosixPath(name).suffix.lower()
    try:
        if suffix == ".zip":
            yield from _load_zip(name, data)
        elif suffix in TEXT_SUFFIXES:
            yield Loaded(name, article_from_text(_decode(data)))
        elif suffix in HTML_SUFFIXES:
            yield Loaded(name, article_from_html(_decode(data)))
        elif suffix == ".jsonl":
            yield from _load_jsonl(name, _decode(data))
        elif suffix == ".json":
            yield from _load_json(name, _decode(data))
        else:
            yield Loaded(name, error=Reason("unsupported_type", suffix=suffix or "(none)"))
    except LoadError as exc:
        yield Loaded(name, error=exc.reason)


def _load_json(name: str, text: str) -> Iterator[Loaded]:
    if not text.strip():
        raise LoadError("empty_file")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError("invalid_json", why=exc.msg, line=exc.lineno) from exc
    items = value if isinstance(value, list) else [value]
    if not items:
        raise LoadError("empty_array")
    for i, item in enumerate(items):
        origin = f"{name}#{i + 1}" if isinstance(value, list) else name
        yield _from_record(origin, item)


def _load_jsonl(name: str, text: str) -> Iterator[Loaded]:
    seen = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        seen = True
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Loaded(f"{name}:{lineno}", error=Reason("invalid_json", why=exc.msg, line=lineno))
            continue
        yield _from_record(f"{name}:{lineno}", item)
    if not seen:
        raise LoadError("empty_file")


def _from_record(origin: str, item: Any) -> Loaded:
    try:
        return Loaded(origin, article_from_record(item))
    except LoadError as exc:
        return Loaded(origin, error=exc.reason)


def _load_zip(name: str, data: bytes) -> Iterator[Loaded]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise LoadError("bad_zip", why=exc) from exc
    for member in members:
        inner = f"{name}:{member.filename}"
        suffix = PurePosixPath(member.filename).suffix.lower()
        if member.filename.startswith("__MACOSX/") or suffix not in SUPPORTED - {".zip"}:
            continue
        try:
            content = archive.read(member)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            yield Loaded(inner, error=Reason("bad_member", why=exc))
            continue
        yield from load_bytes(inner, content)


def iter_files(paths: Iterable[Path]) -> Iterator[Path | Loaded]:
    """Files under the given paths (folders recursively), or why a path is unusable."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUPPORTED:
                    yield child
        elif path.is_file():
            yield path
        else:
            yield Loaded(str(path), error=Reason("no_such_path"))


def load_paths(paths: Iterable[Path]) -> Iterator[Loaded]:
    for item in iter_files(paths):
        if isinstance(item, Loaded):
            yield item
            continue
        try:
            data = item.read_bytes()
        except OSError as exc:
            yield Loaded(str(item), error=Reason("cannot_read", why=exc.strerror))
            continue
        yield from load_bytes(str(item), data)
