"""The one call from a question to an answer: follow-ups in context, small talk,
refusals, weak answers."""

import dataclasses
import time

from retrieval.answer import NO_ANSWER
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.search import Searcher
from retrieval.service import QAService, Turn
from retrieval.types import Article
from tests.auxil.answers import CASUALTIES, cited


def test_out_of_coverage_question(qa: QAService) -> None:
    for q, lang in (
        ("Who won the 2022 Nobel Prize in Physics?", "en"),
        ("من فاز بكأس العالم للسيدات 2023؟", "ar"),
    ):
        answer = qa.ask(q).answer
        assert not answer.grounded and answer.citations == ()
        assert answer.text == NO_ANSWER[lang] and answer.language == lang


def test_follow_up_is_searched_in_context(qa: QAService, founding_article: Article) -> None:
    first = qa.ask("How many Palestinians have been killed in Gaza?")
    asked = "How many Palestinians have been killed in Gaza?"
    history = [Turn(asked, first.answer.text, asked, time.time())]
    follow = qa.ask("And how many of them were children?", history)
    assert follow.query.startswith("How many Palestinians")
    cited(qa, follow.answer, founding_article, CASUALTIES[:40])
    assert "3760" in follow.answer.text


def test_a_follow_up_reads_only_a_recent_question(qa: QAService) -> None:
    asked = "How many Palestinians have been killed in Gaza?"
    recent = [Turn(asked, "…", asked, time.time() - 60)]
    stale = [Turn(asked, "…", asked, time.time() - 11 * 60)]  # past the 10-minute window
    question = "And how many of them were children?"
    assert qa.ask(question, recent).query == f"{asked} {question}"
    assert qa.ask(question, stale).query == question


def test_a_standalone_question_is_not_mixed_with_the_one_before(qa: QAService) -> None:
    before = "كم عدد المواطنين الأمريكيين الذين يسعون لمغادرة غزة؟"
    history = [Turn(before, "…", before, time.time())]
    question = "ما هي نسبة الدين الحكومي في منطقة اليورو؟"
    reply = qa.ask(question, history)
    assert reply.query == question and reply.topic == question
    assert "400 مواطن" not in reply.answer.text


def test_small_talk_is_answered_by_the_bot_not_the_coverage(qa: QAService) -> None:
    for text, lang, words in (("السلام عليكم", "ar", "أهلًا"), ("thanks!", "en", "welcome")):
        reply = qa.ask(text)
        assert reply.answer.kind == "smalltalk" and not reply.answer.grounded
        assert reply.answer.citations == () and reply.result is None
        assert reply.answer.language == lang and words in reply.answer.text


def test_an_answer_only_just_above_the_threshold_is_marked_weak(news: Searcher) -> None:
    question = "How many Palestinians have been killed in Gaza?"
    plain = QAService(news, ExtractiveAnswerer(news.embedder)).ask(question)
    assert plain.answer.grounded and not plain.weak
    top = plain.result.top_score
    near = dataclasses.replace(news.params, threshold=top - 0.01, cross_threshold=top - 0.01)
    close = Searcher(news.store, news.embedder, news.lexical, near)
    reply = QAService(close, ExtractiveAnswerer(news.embedder)).ask(question)
    assert reply.answer.grounded and reply.weak
