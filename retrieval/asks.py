"""What a question asks for, and whether a text holds it.

Two uses. Ranking a passage's sentences: a sentence that holds the kind of answer
asked for (a date for "when", a number for "how many") scores a little higher
(:func:`expected_answer`). Refusing: evidence that cannot hold the answer is no
answer, however close its words (:func:`missing`). A question that names a year
needs evidence of that year ("who won the 2022 World Cup?" is not answered by a
2014 final); one that asks a price, a share, an age or a score needs evidence
that states one ("how much is the entry fee?" is not answered by the report of
the park's opening). Patterns read normalised text (:func:`retrieval.arabic.normalise`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from retrieval.arabic import normalise

# What a question asks for, read from its question words (on normalised text),
# and what a sentence that gives it holds.
_ASKS_DATE = re.compile(
    r"\bمتي\b|\bفي اي (?:عام|سنه|تاريخ|يوم|شهر|قرن)\b|\bما (?:هو )?تاريخ\b"
    r"|\bwhen\b|\b(?:what|which) (?:year|date|century|month|day)\b"
)
_ASKS_QUANTITY = re.compile(
    r"\bكم\b|\bما (?:هو |هي )?(?:عدد|طول|مساحه|نسبه|حجم|ارتفاع|عمق|مده|سعر|قيمه|وزن|عمر)\b"
    r"|\bhow (?:many|much|long|old|tall|far|big|large|high)\b"
    r"|\bwhat (?:is|was|are|were) the (?:number|population|area|length|size|percentage|height)\b"
)
_DATE_WORDS = (
    "يناير|فبراير|مارس|ابريل|مايو|يونيو|يوليو|اغسطس|سبتمبر|اكتوبر|نوفمبر|ديسمبر"
    "|كانون|شباط|اذار|نيسان|ايار|حزيران|تموز|ايلول|تشرين"
    "|محرم|ربيع|جمادي|رجب|شعبان|رمضان|شوال|ذو القعده|ذو الحجه"
    "|january|february|march|april|june|july|august|september|october|november|december"
    # news dates its events by the day of the week and the hour
    "|الاحد|الاثنين|الثلاثاء|الاربعاء|الخميس|الجمعه|السبت|غدا|امس|صباحا|مساء|ظهرا"
    "|sunday|monday|tuesday|wednesday|thursday|friday|saturday|today|tomorrow|yesterday"
)
_HAS_DATE = re.compile(
    rf"\d|\b(?:[وبل]?(?:{_DATE_WORDS})|(?:[وبل]?(?:ال)?(?:عام|سنه|قرن))|year|century)\b"
)
_HAS_NUMBER = re.compile(
    r"\d|\b[وبل]?(?:ال)?(?:واحد|اثن|ثلاث|اربع|خمس|ست|سبع|ثمان|تسع|عشر|مئ|مائ|الف|الاف"
    r"|مليون|ملايين|مليار)(?:ه|ان|ين|ون|ات|ي|يه|ا)?\b"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundreds?|thousands?"
    r"|millions?|billions?)\b"
)


_CURRENCY = (
    r"(?:ريال|ريالا|ريالات|دولار|دولارا|دولارات|يورو|جنيه|جنيها|جنيهات|درهم|دراهم|دينار|دنانير"
    r"|ليره|روبل|استرليني|riyals?|dollars?|euros?|pounds?|sar|usd|\$|€|£)"
)
# The kinds of answer a refusal checks, each: what asks for it, what states it.
_KINDS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "price": (
        re.compile(
            r"\bبكم\b|\bكم (?:ال)?(?:سعر|ثمن|تكلف\w*|كلف\w*|قيمه|رسوم|اجر|اجره|راتب|مرتب"
            r"|ايراد\w*|ارباح|خسائر|خساير|قرض|تعويض|غرامه|مكافا\w*)\b"
            r"|\bما (?:هو |هي )?(?:ال)?(?:سعر|ثمن|تكلفه|رسوم|اجر|راتب)\b"
            r"|\bhow much (?:\w+ ){0,6}(?:cost|costs|pay|paid|earn|earns|worth|charge|charged)\b"
            r"|\b(?:price|cost|fee|fees|salary|fare) of\b"
            r"|\bwhat(?:'s| is| was| are| were) the (?:\w+ )?(?:price|cost|fee|fees|salary|fare)\b"
        ),
        re.compile(rf"\d[\d.,]*\s*(?:\w+\s)?{_CURRENCY}|\b{_CURRENCY}\b"),
    ),
    "share": (
        re.compile(
            r"\bكم (?:ال)?نسبه\b|\bما (?:هي )?(?:ال)?نسبه\b"
            r"|\bwhat (?:percentage|percent|share|proportion)\b"
            r"|\bwhat(?:'s| is| was) the \w* ?rate\b"
        ),
        re.compile(r"%|٪|\bبالمئه\b|\bبالمائه\b|\bفي المئه\b|\bفي المائه\b|\bpercent\b|\bنسبه\b"),
    ),
    "age": (
        re.compile(r"\bكم عمر\w*|\bhow old\b"),
        re.compile(r"\d+\s*(?:عاما|عام|سنه|سنوات|سنين|years?)|\bعمر\w*\b|\bالعمر\b|\baged?\b"),
    ),
    "score": (
        re.compile(
            r"\bكم (?:انتهت|كانت نتيجه|نتيجه)\b|\bما (?:هي )?(?:ال)?نتيجه\b|\bبكم (?:فاز|خسر)\b"
            r"|\b(?:final )?score\b"
        ),
        re.compile(r"\d+\s*[-/:]\s*\d+|\bبهدف\w*\b|\bهدفين\b|\bاهداف\b|\bتعادل\w*\b|\bفوز\w*\b"),
    ),
}
_YEAR = re.compile(r"(?<![\w.])((?:19|20)\d\d)(?![\w])")


def missing(question: str, texts: Iterable[str], years_published: Iterable[str] = ()) -> str | None:
    """What the evidence (``texts``, published in ``years_published``) lacks that
    ``question`` asks for: ``"year 2022"``, ``"price"``, ``"share"``, ``"age"``,
    ``"score"``; None when it lacks nothing this can tell."""
    asked = normalise(question)
    held = normalise(" ".join(texts))
    published = set(years_published)
    for year in _YEAR.findall(asked):
        if year not in held and year not in published:
            return f"year {year}"
    for kind, (asks, states) in _KINDS.items():
        if asks.search(asked) and not states.search(held):
            return kind
    return None


def expected_answer(question: str) -> re.Pattern[str] | None:
    """The pattern a sentence that answers ``question`` matches, when the question
    asks for a date or a quantity (a price, a share, an age, a score: their own)."""
    text = normalise(question)
    for asks, states in _KINDS.values():
        if asks.search(text):
            return states
    if _ASKS_DATE.search(text):
        return _HAS_DATE
    if _ASKS_QUANTITY.search(text):
        return _HAS_NUMBER
    return None
