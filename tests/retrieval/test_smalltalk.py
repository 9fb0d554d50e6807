"""Greetings and questions about the bot: told apart from questions for the coverage."""

import pytest

from retrieval.smalltalk import reply, smalltalk_kind, without_greeting

COVERAGE = {"articles": 12, "first": "2015-07-21", "last": "2015-07-24", "sources": ["okaz"]}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("مرحبا", "greeting"),
        ("السلام عليكم ورحمة الله", "greeting"),
        ("هلا والله، كيفك؟", "greeting"),
        ("Hi there!", "greeting"),
        ("شكراً جزيلاً 🙏", "thanks"),
        ("thanks a lot", "thanks"),
        ("مع السلامة", "bye"),
        ("من أنت؟", "about"),
        ("who are you?", "about"),
        ("what can you do", "about"),
        ("وش تقدر تسوي؟", "about"),
        ("are you a bot?", "about"),
        ("قل لي نكتة", "joke"),
        ("tell me a joke", "joke"),
        ("👍", "ack"),
        ("تمام", "ack"),
    ],
)
def test_small_talk_and_its_kind(text: str, kind: str) -> None:
    assert smalltalk_kind(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "مرحبا، كم عدد ضحايا حريق جازان؟",
        "كيف حال الاقتصاد السعودي؟",
        "how are oil prices doing?",
        "who are the Houthis?",
        "what can Saudi Arabia do about unemployment?",
        "هلال",
        "كيف يعمل نظام ساهر الجديد؟",
    ],
)
def test_questions_for_the_coverage_are_not_small_talk(text: str) -> None:
    assert smalltalk_kind(text) is None


def test_a_greeting_before_a_question_is_left_out_of_the_search() -> None:
    assert without_greeting("مرحبًا، كم عدد ضحايا حريق جازان؟") == "كم عدد ضحايا حريق جازان؟"
    assert without_greeting("hi, how many died?") == "how many died?"
    assert without_greeting("كيف يعمل نظام ساهر الجديد؟") == "كيف يعمل نظام ساهر الجديد؟"
    assert without_greeting("مرحبا") == "مرحبا"


def test_replies_say_what_the_bot_does_and_holds_in_the_readers_language() -> None:
    ar = reply("about", "ar", COVERAGE)
    assert "راوي" in ar and "12" in ar and "okaz" in ar
    en = reply("greeting", "en", COVERAGE)
    assert en.startswith("Hello!") and "12 articles" in en and "2015-07-21" in en
    assert "[1]" not in reply("thanks", "en", COVERAGE)
