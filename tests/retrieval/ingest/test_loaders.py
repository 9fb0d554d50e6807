import io
import json
import re
import zipfile
from pathlib import Path

from retrieval.ingest.loaders import (
    Loaded,
    article_from_html,
    article_id,
    load_bytes,
    load_paths,
    normalise_url,
)
from tests.auxil.helpers import shared_path

HTML = """<html><head><title>Port reopens</title>
<meta property="og:site_name" content="Coast Daily"></head>
<body><nav>Home | World | Sport</nav><article><h1>Port reopens after storm</h1>
<p>The harbour of Oasis City reopened on Tuesday after a storm closed it for two days,
the port authority said in a statement issued in the morning.</p>
<p>Ships queued outside the breakwater overnight, and the first container vessel docked
at dawn. Officials expect the backlog to clear by the weekend.</p></article>
<footer>Copyright Coast Daily</footer></body></html>"""


def load_one(path: Path) -> list[Loaded]:
    return list(load_paths([path]))


def test_txt_title_and_blank_line_paragraphs(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("\n\nThe title\n\nFirst paragraph\nwrapped line.\n\n \nSecond one.\n")
    (item,) = load_one(f)
    assert item.article is not None
    assert item.article.title == "The title"
    assert item.article.paragraphs == ("First paragraph wrapped line.", "Second one.")
    assert item.article.language == "en"


def test_markdown_heading_title(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_text("# عنوان الخبر\n\nفقرة أولى.\n\nفقرة ثانية.")
    (item,) = load_one(f)
    assert item.article is not None
    assert item.article.title == "عنوان الخبر"
    assert len(item.article.paragraphs) == 2
    assert item.article.language == "ar"


def test_json_object_array_and_jsonl(tmp_path: Path) -> None:
    rec = {
        "title": "T",
        "content": "line one\nline two\n\n line three",
        "url": "https://Example.com/a?utm_source=x",
        "source": "daily",
        "date_extracted": "2015-07-21 02:51:32",
        "author": "A",
    }
    (tmp_path / "one.json").write_text(json.dumps(rec))
    (tmp_path / "many.json").write_text(json.dumps([rec, {"id": 7, "text": "x"}]))
    (tmp_path / "lines.jsonl").write_text(
        json.dumps({"id": "k1", "text": "hello"}) + "\n\n{bad json\n" + json.dumps([1]) + "\n"
    )
    items = load_one(tmp_path)
    by_origin = {Path(i.origin.split(":")[0].split("#")[0]).name + i.origin[-3:]: i for i in items}
    assert len(items) == 6
    one = next(i for i in items if i.origin.endswith("one.json"))
    assert one.article is not None
    # every line break separates paragraphs in JSON text
    assert one.article.paragraphs == ("line one", "line two", "line three")
    assert one.article.published == "2015-07-21T02:51:32"
    assert one.article.source == "daily" and one.article.author == "A"
    ids = {i.article.id for i in items if i.article}
    assert "7" in ids and "k1" in ids
    errors = [i.error for i in items if i.error]
    assert any("invalid JSON" in e for e in errors)
    assert any("expected an object" in e for e in errors)
    assert by_origin  # origins name file and item


def test_identity_rules() -> None:
    a = article_id(None, "https://example.com/x/?utm_source=feed#top", "t", "body")
    b = article_id(None, "https://EXAMPLE.com/x/", "other title", "other body")
    assert a == b  # the same normalised URL is the same article
    assert article_id("given", "https://example.com/x", "t", "b") == "given"
    h1 = article_id(None, None, "t", "body")
    assert h1 != article_id(None, None, "t", "body2")
    assert h1 == article_id(None, None, "t", "body")
    assert normalise_url("HTTPS://Example.com/a/") == normalise_url("https://example.com/a/")
    # parameters that name the article keep articles apart; their order does not matter
    page = "http://www.alwatan.com.sa/Politics/News_Detail.aspx?ArticleID={}&CategoryID=1"
    assert article_id(None, page.format(230599), "t", "b") != article_id(
        None, page.format(231608), "t", "b"
    )
    assert normalise_url("https://example.com/a?b=2&a=1&fbclid=x#c") == normalise_url(
        "https://example.com/a?a=1&b=2"
    )


def test_distinct_articles_of_a_news_archive_keep_distinct_ids() -> None:
    """A day of SaudiNewsNet: pages of one outlet differ only by a query parameter
    (``News_Detail.aspx?ArticleID=…``); none may replace another."""
    items = [i.article for i in load_paths([shared_path("saudinewsnet", "2015-07-21.zip")])]
    articles = [a for a in items if a is not None]
    by_id: dict[str, set[str]] = {}
    for a in articles:
        by_id.setdefault(a.id, set()).add(a.title)
    assert sum(1 for a in articles if a.url and "ArticleID=" in a.url) > 50
    assert all(len(titles) == 1 for titles in by_id.values()), [
        t for t in by_id.values() if len(t) > 1
    ][:3]


def test_html_main_text(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text(HTML)
    (item,) = load_one(f)
    assert item.article is not None, item.error
    assert "harbour of Oasis City reopened" in item.article.text
    assert "Copyright" not in item.article.text
    assert "Home | World" not in item.article.text


def test_bad_inputs_fail_alone_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Title\n\nBody text.")
    (tmp_path / "empty.txt").write_text("   \n")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    (tmp_path / "nothing.html").write_text("<html><body><nav>Menu</nav></body></html>")
    (tmp_path / "latin1.txt").write_bytes("Titre\n\ncaf\xe9".encode("latin-1"))
    items = {Path(i.origin).name: i for i in load_one(tmp_path)}
    assert items["good.txt"].article is not None
    assert items["empty.txt"].error == "empty file"
    assert "zip" in (items["broken.zip"].error or "")
    assert "no main text" in (items["nothing.html"].error or "")
    assert "UTF-8" in (items["latin1.txt"].error or "")
    assert load_one(tmp_path / "missing.txt")[0].error == "no such file or folder"


def test_zip_of_mixed_files(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "Title A\n\nBody A.")
        z.writestr("dir/b.json", json.dumps([{"title": "B", "content": "Body B"}]))
        z.writestr("c.bin", b"\x00\x01")
    (tmp_path / "bundle.zip").write_bytes(buf.getvalue())
    items = load_one(tmp_path / "bundle.zip")
    assert sorted(i.article.title for i in items if i.article) == ["B", "Title A"]


def test_saudinewsnet_zip_ingests_as_it_is() -> None:
    path = shared_path("saudinewsnet", "2015-07-23.zip")
    items = load_one(path)
    raw = json.loads(zipfile.ZipFile(path).read("2015-07-23.json"))
    assert len(items) == len(raw)
    good = [i.article for i in items if i.article]
    bad = [i for i in items if i.error]
    assert len(good) > 0.95 * len(raw)
    assert all("no text" in (i.error or "") for i in bad)  # the items whose content is empty
    assert all(a.published and a.published.startswith("2015-07-23") for a in good)
    assert {a.language for a in good} == {"ar"}
    assert all(a.source for a in good)
    # single-newline articles become several paragraphs
    assert max(len(a.paragraphs) for a in good) > 5


PAGE = """<html><head><title>Harbour pier reopens | City News</title>{meta}</head><body>
<nav>Home News Sport</nav>
<article><h1>Harbour pier reopens</h1>
<p>The north pier of Oasis harbour reopened on Monday after repairs that cost 40 million
riyals, the port authority said.</p>
<p>Ferries will use the pier from next week, and the old timetable returns in the spring
after the works end.</p></article>
<footer>Copyright 2015 City News. All rights reserved.</footer></body></html>"""


def test_an_html_headline_is_the_title_and_a_date_is_never_guessed() -> None:
    article = article_from_html(PAGE.format(meta=""))
    assert article.title == "Harbour pier reopens"
    assert len(article.paragraphs) == 2  # the <h1> is not paragraph 1
    assert article.paragraphs[0].startswith("The north pier")
    assert article.published is None  # not 2015-01-01 from "Copyright 2015"
    meta = '<meta property="article:published_time" content="2015-07-23T10:00:00+03:00">'
    assert (article_from_html(PAGE.format(meta=meta)).published or "").startswith("2015-07-23")


def test_every_reason_reads_in_arabic_and_english() -> None:
    from retrieval.ingest.reasons import REASONS, Reason

    items = load_bytes("bad.json", b'{"title": ')
    (item,) = list(items)
    assert isinstance(item.error, Reason) and item.error == "invalid JSON: Expecting value (line 1)"
    assert item.error.say("ar") == "JSON غير صالح (السطر 1)"
    for code, (en, ar) in REASONS.items():  # the same details fill both languages
        names = {n.split(":")[0] for n in re.findall(r"{(\w+(?::[^}]*)?)}", en)}
        assert names >= {n.split(":")[0] for n in re.findall(r"{(\w+(?::[^}]*)?)}", ar)}, code
