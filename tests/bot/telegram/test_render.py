"""Telegram HTML rendering: escaped, split under the limit, tags never cut."""

import html
import re
from dataclasses import replace
from html.parser import HTMLParser

from bot.telegram.render import MAX_MESSAGE, render_html, render_plain
from retrieval.types import Answer, Citation

ALLOWED = {"b", "i", "a", "blockquote"}


class Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        assert tag in ALLOWED, tag
        self.stack.append(tag)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        assert self.stack and self.stack.pop() == tag, tag

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


def check(message: str) -> str:
    assert len(message) <= MAX_MESSAGE
    assert not re.search(r"&(?![a-z]+;|#\d+;)", message)  # no entity cut in half
    parser = Balance()
    parser.feed(message)
    parser.close()
    assert parser.stack == []
    return "".join(parser.text)


def citation(
    n: int,
    quote: str,
    title: str = "Title",
    url: str | None = "https://example.com/a?x=1&y=2",
    *,
    before: str = "The sentence before. ",
    after: str = " The sentence after.",
) -> Citation:
    return Citation(
        n,
        "a1",
        2,
        "a1|r|0",
        10,
        10 + len(quote),
        quote,
        title,
        "Outlet",
        "2023-11-02T10:00:00",
        url,
        context=f"{before}{quote}{after}",
        quote_at=len(before),
    )


def test_answer_with_sources_is_valid_escaped_html() -> None:
    nasty = "Tom & Jerry <b>bold</b> <script>alert(1)</script> <i unclosed"
    answer = Answer(
        f"According to the coverage: “{nasty}” [1]", (citation(1, nasty, title=nasty),), True, "en"
    )
    (message,) = render_html(answer)
    text = check(message)
    assert "<script>" not in message and "&lt;script&gt;" in message
    assert nasty in text  # the reader sees the characters as written
    assert '<a href="https://example.com/a?x=1&amp;y=2">' in message
    assert "<blockquote expandable>" in message
    assert "[1]" in text and "Outlet · 2023-11-02 · ¶2" in text


def test_the_expandable_quote_shows_the_passage_around_the_quote() -> None:
    quote = "The north pier reopened on Monday."
    answer = Answer(f"According to the coverage: “{quote}” [1]", (citation(1, quote),), True, "en")
    (message,) = render_html(answer)
    assert (
        "<blockquote expandable>The sentence before. <b>The north pier reopened on Monday.</b>"
        " The sentence after.</blockquote>" in message
    )
    alone = citation(1, quote, before="", after="")  # the passage is the quote: not again
    (message,) = render_html(replace(answer, citations=(alone,)))
    assert "<blockquote" not in message and message.count(quote) == 1


def test_arabic_labels() -> None:
    answer = Answer("بحسب التغطية: «نص» [1]", (citation(1, "نص"),), True, "ar")
    (message,) = render_html(answer)
    assert "المصادر" in message and "الفقرة 2" in message


def test_long_answers_split_into_valid_messages_without_losing_text() -> None:
    quotes = [("كلمة " * 300).strip() + f" {i} & <x>" for i in range(1, 9)]
    answer = Answer(
        "بحسب التغطية: " + " ".join(f"«{q}» [{i}]" for i, q in enumerate(quotes, 1)),
        tuple(citation(i, q) for i, q in enumerate(quotes, 1)),
        True,
        "ar",
    )
    messages = render_html(answer)
    assert len(messages) > 1
    texts = [check(m) for m in messages]
    for i, q in enumerate(quotes, 1):
        # each source fits one message, so its block is never cut: the quote is whole
        assert any(q in t and f"[{i}]" in t for t in texts), i
    # the long answer text itself was cut between words and nothing was lost
    answer_words = " ".join(texts).split()
    assert answer_words[: len(answer.text.split())] == answer.text.split()


def test_a_single_huge_quote_is_cut_between_words_with_tags_reopened() -> None:
    quote = " ".join(f"w{i}&" for i in range(3000))  # about 17,000 characters escaped
    messages = render_html(Answer("x [1]", (citation(1, quote),), True, "en"))
    assert len(messages) >= 4
    words = " ".join(check(m) for m in messages).split()
    assert [w for w in words if w.startswith("w")] == quote.split()


def test_plain_text_fallback() -> None:
    answer = Answer(
        "According to the coverage: “a & b” [1]", (citation(1, "a & b <i>"),), True, "en"
    )
    (message,) = render_plain(answer)
    assert "&amp;" not in message and "<i>" in message  # plain text is not escaped
    assert "https://example.com/a?x=1&y=2" in message


def test_no_answer_renders_alone() -> None:
    assert render_html(Answer("The coverage does not answer this question.", (), False, "en")) == [
        html.escape("The coverage does not answer this question.")
    ]
