"""Reading time and outlets in a question, in Arabic and English."""

from datetime import date

import pytest

from config.settings import load_settings
from retrieval.scope import Outlets, describe, format_day, read_scope

TODAY = date(2015, 8, 12)  # a Wednesday
D = date


@pytest.fixture(scope="module")
def outlets() -> Outlets:
    configured = {k: v.model_dump() for k, v in load_settings().outlets.items()}
    return Outlets(configured, ["sabq", "okaz", "alriyadh", "some-feed"])


@pytest.mark.parametrize(
    ("question", "since", "until", "rest"),
    [
        # absolute dates, as readers write them
        ("ماذا حدث في عدن يوم 27 يوليو 2015؟", D(2015, 7, 27), D(2015, 7, 27), "ماذا حدث في عدن ؟"),
        ("ماذا حدث في عدن 27 تموز 2015", D(2015, 7, 27), D(2015, 7, 27), "ماذا حدث في عدن"),
        ("ماذا حدث يوم الاثنين 27 تموز في عدن", D(2015, 7, 27), D(2015, 7, 27), "ماذا حدث في عدن"),
        (
            "what happened in Aden on 27 July 2015",
            D(2015, 7, 27),
            D(2015, 7, 27),
            "what happened in Aden",
        ),
        (
            "what happened in Aden on July 27, 2015",
            D(2015, 7, 27),
            D(2015, 7, 27),
            "what happened in Aden",
        ),
        ("Aden 2015-07-27", D(2015, 7, 27), D(2015, 7, 27), "Aden"),
        ("عدن بتاريخ ٢٧/٧/٢٠١٥", D(2015, 7, 27), D(2015, 7, 27), "عدن"),
        # no year: the latest such day up to today
        ("عدن يوم 4 أغسطس", D(2015, 8, 4), D(2015, 8, 4), "عدن"),
        ("Aden on 25 October", D(2014, 10, 25), D(2014, 10, 25), "Aden"),
        # relative days, from the reader's today
        ("ماذا حدث أمس في تعز", D(2015, 8, 11), D(2015, 8, 11), "ماذا حدث في تعز"),
        (
            "what happened in Taiz yesterday",
            D(2015, 8, 11),
            D(2015, 8, 11),
            "what happened in Taiz",
        ),
        ("ماذا حدث أول أمس في تعز", D(2015, 8, 10), D(2015, 8, 10), "ماذا حدث في تعز"),
        ("the day before yesterday in Taiz", D(2015, 8, 10), D(2015, 8, 10), "in Taiz"),
        ("ماذا حدث الجمعة الماضية في مكة", D(2015, 8, 7), D(2015, 8, 7), "ماذا حدث في مكة"),
        (
            "what happened last Friday in Mecca",
            D(2015, 8, 7),
            D(2015, 8, 7),
            "what happened in Mecca",
        ),
        ("أخبار النفط هذا الأسبوع", D(2015, 8, 6), D(2015, 8, 12), "أخبار النفط"),
        ("oil news this week", D(2015, 8, 6), D(2015, 8, 12), "oil news"),
        ("أخبار النفط الأسبوع الماضي", D(2015, 7, 30), D(2015, 8, 5), "أخبار النفط"),
        ("oil news last month", D(2015, 7, 1), D(2015, 7, 31), "oil news"),
        ("ماذا جرى قبل يومين في تعز", D(2015, 8, 10), D(2015, 8, 10), "ماذا جرى في تعز"),
        ("oil news in the last 3 days", D(2015, 8, 10), D(2015, 8, 12), "oil news"),
        ("أخبار النفط خلال اليومين الماضيين", D(2015, 8, 11), D(2015, 8, 12), "أخبار النفط"),
        ("أخبار النفط خلال الأيام الثلاثة الماضية", D(2015, 8, 10), D(2015, 8, 12), "أخبار النفط"),
        # ranges
        ("ماذا حدث في عدن منذ 9 أغسطس", D(2015, 8, 9), D(2015, 8, 12), "ماذا حدث في عدن"),
        (
            "what happened in Aden since 9 August",
            D(2015, 8, 9),
            D(2015, 8, 12),
            "what happened in Aden",
        ),
        ("ماذا حدث في عدن بين 6 و8 أغسطس", D(2015, 8, 6), D(2015, 8, 8), "ماذا حدث في عدن"),
        ("Aden between 6 and 8 August", D(2015, 8, 6), D(2015, 8, 8), "Aden"),
        ("Aden between 30 July 2015 and 2 August 2015", D(2015, 7, 30), D(2015, 8, 2), "Aden"),
        ("ماذا حدث في عدن قبل 7 أغسطس", None, D(2015, 8, 6), "ماذا حدث في عدن"),
        ("Aden before 7 August", None, D(2015, 8, 6), "Aden"),
    ],
)
def test_dates_in_a_question(
    question: str, since: date | None, until: date | None, rest: str, outlets: Outlets
) -> None:
    scope = read_scope(question, TODAY, outlets)
    assert (scope.since, scope.until) == (since, until)
    assert scope.query == rest  # the words that said when are no search terms
    assert scope.filters


@pytest.mark.parametrize(
    "question",
    [
        "ما هي آخر حصيلة للقتلى في غزة؟",
        "ما آخر مستجدات اليمن",
        "أحدث الأخبار عن أرامكو",
        "What is the latest death toll in Gaza?",
        "most recent news on Aramco",
    ],
)
def test_the_latest(question: str) -> None:
    scope = read_scope(question, TODAY)
    assert scope.latest and scope.since is None and scope.until == TODAY
    assert not {"آخر", "latest", "أحدث", "recent"} & set(scope.query.split())


def test_by_a_date_means_the_newest_report_up_to_then() -> None:
    scope = read_scope("How many children had been killed by November 6?", TODAY)
    assert scope.latest and scope.since is None and scope.until == date(2014, 11, 6)


@pytest.mark.parametrize(
    ("question", "source", "rest"),
    [
        ("ماذا قالت عكاظ عن الحوثيين؟", "okaz", "عن الحوثيين؟"),
        ("ماذا قالت سبق عن الحوثيين؟", "sabq", "عن الحوثيين؟"),
        ("What did Okaz say about the Houthis?", "okaz", "What did say about the Houthis?"),
        ("ماذا نشرت صحيفة الرياض عن الطقس؟", "alriyadh", "ماذا نشرت عن الطقس؟"),
        (
            "what did the Al Riyadh newspaper say about rain",
            "alriyadh",
            "what did the newspaper say about rain",
        ),
        ("حسب سبق، من فاز؟", "sabq", "، من فاز؟"),
        ("according to Sabq, who won?", "sabq", ", who won?"),
        ("ماذا قالت جريدة اليوم عن أرامكو", "alyaum", "ماذا قالت عن أرامكو"),
        ("what did some-feed say about rain", "some-feed", "what did say about rain"),
    ],
)
def test_outlets_named_as_readers_name_them(
    question: str, source: str, rest: str, outlets: Outlets
) -> None:
    scope = read_scope(question, TODAY, outlets)
    assert scope.sources == (source,) and not scope.dated
    assert scope.query == rest


@pytest.mark.parametrize(
    "question",
    [
        "ما هي أخبار الطقس في الرياض؟",  # the city, not the paper
        "من هو أمير المدينة المنورة؟",
        "جاء شخص آخر إلى الاجتماع",  # "another", not "the latest"
        "ما موضوع خطبة الجمعة في الحرم؟",  # Friday prayers, not last Friday
        "من سيلتقي بلينكن يوم الجمعة؟",  # the day of an event, ahead
        "متى انتخابات الفيفا في 26 فبراير المقبل؟",  # a date ahead ("next")
        "شبح النازية يخيم على القصر من جديد",  # "again", not "the latest"
        "Who will Blinken meet on Friday?",
        "What may happen to oil prices?",
        "Who won the 2022 World Cup?",  # a year the question is about, not a window
        # a month names the time of the event, reported later: "inflation in July"
        "What was inflation in China in July 2015?",
        "كم معدل البطالة في إسبانيا خلال شهر يوليو 2015؟",
        "how many rhinos were killed last year",
        "آخر موعد للتسجيل في برنامج الحج الميسر",  # a deadline, not the newest report
        "مين الفنانة اللي بتمثل الخنساء في سوق عكاظ؟",  # the festival, not the paper
        "What was the score?",  # "was" is also an outlet's id
        "كم عدد سكان الرياض؟",
    ],
)
def test_words_that_only_look_like_a_scope(question: str, outlets: Outlets) -> None:
    scope = read_scope(question, TODAY, outlets)
    assert not scope.filters and not scope.latest and scope.query == question


def test_a_day_in_words_in_both_languages() -> None:
    assert format_day(date(2023, 11, 6), "ar") == "6 نوفمبر 2023"
    assert format_day(date(2023, 11, 6), "en") == "6 November 2023"
    scope = read_scope("Aden between 6 and 8 August", TODAY)
    assert describe(scope, "en") == "between 6 August 2015 and 8 August 2015"
    assert describe(scope, "ar") == "بين 6 أغسطس 2015 و8 أغسطس 2015"
