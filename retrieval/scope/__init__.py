"""When and who a question asks about: a window of days, "the latest", outlets.

News readers ask "what is the latest on …", "what happened on 27 July", "what did
Okaz say about …", "yesterday". :func:`read_scope` finds those words in a question,
in Arabic or English, and returns a :class:`Scope`: the window (inclusive days),
whether the newest reports are wanted, the outlets named, and the question without
the words that said so (they are not search terms).

Month and weekday names come from the CLDR data Babel ships (Gulf/Egyptian and
Levantine Arabic month names, English); relative days are counted from ``today``,
the reader's clock, which callers may set (``--as-of``). dateparser was measured
first: it reads neither "4 آب 2015" nor "الجمعة الماضية" nor "أول أمس", and its
search finds "أكتوبر" but not the day in "يوم 25 أكتوبر".

The words themselves are in :mod:`retrieval.scope.names`, the outlets readers
name in :mod:`retrieval.scope.outlets`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

from babel.dates import format_date

from retrieval.scope.names import (
    AR_PREFIX,
    DIGITS,
    NUMBER_WORDS,
    WORD_END,
    WORD_START,
    alternation,
    fold,
    loose,
    month_names,
    number,
    weekday_names,
)
from retrieval.scope.outlets import NO_OUTLETS, Outlets

# -- the scope -------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a question asks of time and source. ``since``/``until``: inclusive
    days (None: open); ``sources``: outlet ids (the store's ``source`` values)."""

    query: str
    since: date | None = None
    until: date | None = None
    latest: bool = False
    sources: tuple[str, ...] = ()
    today: date | None = field(default=None, compare=False)  # the reader's day

    @property
    def dated(self) -> bool:
        return self.since is not None or self.until is not None

    @property
    def filters(self) -> bool:
        """Whether passages outside the scope are left out of the search."""
        return self.dated or bool(self.sources)

    def days(self) -> tuple[int, int]:
        """The window as sortable day numbers (YYYYMMDD), open ends widened."""
        return (
            day_number(self.since) if self.since else 0,
            day_number(self.until) if self.until else 99991231,
        )


def day_number(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def day_of(published: str | None) -> int:
    """A publication date (ISO 8601) as a day number; 0 when unknown."""
    if not published or len(published) < 10 or not published[:4].isdigit():
        return 0
    try:
        return day_number(date.fromisoformat(published[:10]))
    except ValueError:
        return 0


def date_of(published: str | None) -> date | None:
    n = day_of(published)
    return date(n // 10000, n // 100 % 100, n % 100) if n else None


# -- dates -----------------------------------------------------------------

_YEAR = r"(?P<{}>(?:19|20)\d\d)"


@cache
def _date_pattern() -> str:
    """One date: ISO, day/month/year, "27 July [2015]", "July 27[, 2015]"; an
    optional weekday before it ("يوم الاثنين 27 تموز")."""
    months = alternation(month_names()) + "|may"
    weekday = alternation(weekday_names())
    day = r"(?P<{}>[0-3]?\d)(?:st|nd|rd|th)?"
    return (
        rf"(?:(?:{loose('يوم')}\s+)?(?:{weekday})\s*[،,]?\s*)?"
        r"(?:"
        rf"{_YEAR.format('iy')}[-/.](?P<im>[01]?\d)[-/.](?P<id>[0-3]?\d)"
        rf"|(?P<nd>[0-3]?\d)[/.](?P<nm>[01]?\d)[/.]{_YEAR.format('ny')}"
        rf"|{day.format('dd')}\s+(?:of\s+)?(?P<dm>{months}){WORD_END}(?:\s*[،,]?\s*{_YEAR.format('dy')})?"
        rf"|(?P<md>{months})\s+{day.format('mdd')}{WORD_END}(?:\s*,?\s*{_YEAR.format('mdy')})?"
        r")"
    )


def _date_from(m: re.Match[str], prefix: str, today: date) -> date | None:
    g = m.groupdict()
    months = month_names()
    try:
        if g.get(prefix + "iy"):
            return date(int(g[prefix + "iy"]), int(g[prefix + "im"]), int(g[prefix + "id"]))
        if g.get(prefix + "ny"):
            return date(int(g[prefix + "ny"]), int(g[prefix + "nm"]), int(g[prefix + "nd"]))
        if g.get(prefix + "dm"):
            d, mon, y = g[prefix + "dd"], g[prefix + "dm"], g.get(prefix + "dy")
        elif g.get(prefix + "md"):
            d, mon, y = g[prefix + "mdd"], g[prefix + "md"], g.get(prefix + "mdy")
        else:
            return None
        month = 5 if fold(mon) == "may" else months[fold(mon)]
        if y:
            return date(int(y), month, int(d))
        # no year: the latest such day up to today
        this_year = date(today.year, month, int(d))
        return this_year if this_year <= today else date(today.year - 1, month, int(d))
    except (ValueError, KeyError):
        return None


def _prefixed(pattern: str, prefix: str) -> str:
    """``pattern`` with every named group renamed with ``prefix``."""
    return re.sub(r"\(\?P<(\w+)>", lambda m: f"(?P<{prefix}{m.group(1)}>", pattern)


_ON = r"(?:(?:on|dated|of)\s+|" + AR_PREFIX + r"(?:يوم|في|بتاريخ|تاريخ)\s+)?"


@cache
def _date_rules() -> list[tuple[re.Pattern[str], str]]:
    one = _date_pattern()
    a, b = _prefixed(one, "a_"), _prefixed(one, "b_")
    months = alternation(month_names())
    between = rf"(?:between|from|{AR_PREFIX}(?:بين|من))\s+"
    joint = r"\s*(?:and|to|until|till|-|–|و|إلى|الى|حتى|ل)\s*"
    rules = [
        # "between 6 and 8 August", "من 6 إلى 8 أغسطس"
        (
            rf"(?:{between})?(?P<r1>[0-3]?\d){joint}(?P<r2>[0-3]?\d)\s+(?P<rm>{months}|may)"
            rf"(?:\s*[،,]?\s*{_YEAR.format('ry')})?{WORD_END}",
            "short-range",
        ),
        (rf"{between}{a}{joint}{b}", "range"),
        (rf"(?:since|from|{AR_PREFIX}(?:منذ|من))\s+{a}", "since"),
        (rf"(?:after|{AR_PREFIX}بعد)\s+{a}", "after"),
        (rf"(?:before|prior\s+to|{AR_PREFIX}قبل)\s+{a}", "before"),
        (rf"(?:until|till|up\s+to|by|{AR_PREFIX}(?:حتى|لغاية|لغايه))\s+{a}", "until"),
        (rf"{_ON}{a}", "on"),
    ]
    return [(re.compile(f"{WORD_START}(?:{p})", re.IGNORECASE), kind) for p, kind in rules]


# -- relative days -----------------------------------------------------------

_WEEKDAY_AR_CUE = loose("يوم")


@cache
def _relative_rules() -> list[tuple[re.Pattern[str], str]]:
    en_days = "|".join(n for n in weekday_names() if n.isascii())
    ar_days = alternation(n for n in weekday_names() if not n.isascii())
    n_word = r"(?P<n>\d+|" + alternation(NUMBER_WORDS) + ")"
    days_word = r"(?:days?|" + loose("ايام") + "|" + loose("يوم") + "|" + loose("يوما") + ")"
    past = loose("الماضيه") + "|" + loose("الماضي") + "|" + loose("الفائت") + "|" + loose("الفائته")
    rules = [
        (r"(?:the\s+)?day\s+before\s+yesterday|" + loose("اول") + r"\s+(?:من\s+)?" + loose("امس"),
         "days-2"),
        (r"yesterday|" + AR_PREFIX + "(?:ال)?" + loose("امس") + "|" + loose("البارحه"), "days-1"),
        (r"today|" + loose("اليوم") + "|" + loose("هذا اليوم"), "days-0"),
        (loose("قبل") + r"\s+" + loose("يومين"), "ago-2"),
        (rf"{n_word}\s+days?\s+ago|{loose('قبل')}\s+{n_word.replace('<n>', '<n2>')}\s+{days_word}",
         "ago"),
        (rf"(?:(?:in|over|during)\s+)?(?:the\s+)?(?:last|past)\s+{n_word}\s+days"
         rf"|(?:{AR_PREFIX}(?:خلال|في)\s+)?(?:{loose('الايام')}|{loose('اخر')})\s+"
         rf"{n_word.replace('<n>', '<n2>')}(?:\s+{days_word})?(?:\s+(?:{past}))?",
         "last-n"),
        (rf"(?:{AR_PREFIX}(?:خلال|في)\s+)?{loose('اليومين')}\s+(?:{past}|{loose('الماضيين')}"
         rf"|{loose('الاخيرين')})|(?:in|over)\s+the\s+(?:last|past)\s+(?:two|2)\s+days",
         "last-2"),
        (r"this\s+week|" + loose("هذا الاسبوع") + "|" + loose("الاسبوع الحالي") + "|"
         + loose("هالاسبوع"), "this-week"),
        (r"last\s+week|the\s+past\s+week|" + loose("الاسبوع") + rf"\s+(?:{past})", "last-week"),
        (r"this\s+month|" + loose("هذا الشهر") + "|" + loose("الشهر الحالي"), "this-month"),
        (r"last\s+month|" + loose("الشهر") + rf"\s+(?:{past})", "last-month"),
        # "last Friday", "الجمعة الماضية"; a bare "on Friday" / "يوم الجمعة" is the
        # day of an event (often ahead: "who will he meet on Friday?"), not a window
        (rf"(?:last|this\s+past|past)\s+(?P<wd>{en_days})", "weekday"),
        (rf"(?:{_WEEKDAY_AR_CUE}\s+)?(?P<wd>{ar_days})\s+(?:{past})", "weekday"),
    ]  # fmt: skip
    return [
        (re.compile(f"{WORD_START}(?:{p}){WORD_END}", re.IGNORECASE), kind) for p, kind in rules
    ]


def _relative(kind: str, m: re.Match[str], today: date) -> tuple[date, date] | None:
    if kind.startswith("days-"):
        d = today - timedelta(days=int(kind[5:]))
        return d, d
    if kind == "ago-2":
        d = today - timedelta(days=2)
        return d, d
    if kind in ("ago", "last-n"):
        g = m.groupdict()
        n = number(g.get("n") or g.get("n2") or "")
        if not n or n > 366:
            return None
        if kind == "ago":
            d = today - timedelta(days=n)
            return d, d
        return today - timedelta(days=n - 1), today  # today and the n - 1 days before
    if kind == "last-2":
        return today - timedelta(days=1), today
    if kind == "this-week":
        return today - timedelta(days=6), today
    if kind == "last-week":
        return today - timedelta(days=13), today - timedelta(days=7)
    if kind == "this-month":
        return today.replace(day=1), today
    if kind == "last-month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if kind == "weekday":
        name = m.groupdict().get("wd") or ""
        wd = weekday_names().get(fold(name))
        if wd is None:
            return None
        back = (today.weekday() - wd) % 7 or 7  # the last one before today
        d = today - timedelta(days=back)
        return d, d
    return None


# -- "the latest" --------------------------------------------------------------

# "last year", "last season" name the time of an event, not the newest report
_LATEST_EN = re.compile(
    r"(?<![\w])(?:the\s+)?(?:latest|most\s+recent|newest|recent(?:ly)?|updates?\s+on"
    r"|last(?!\s+(?:year|season|summer|winter|spring|autumn|fall|night|decade|century)\b))"
    r"(?![\w])",
    re.IGNORECASE,
)
_LATEST_AR = re.compile(
    WORD_START
    + AR_PREFIX
    + "(?:"
    + "|".join(
        loose(w)
        for w in (
            "آخر المستجدات", "آخر مستجدات", "آخر التطورات", "آخر تطورات", "آخر الأخبار",
            "آخر أخبار", "أحدث", "المستجدات", "مستجدات", "مؤخرا", "مؤخراً", "أخيرا",
        )
    )
    + ")"
    + WORD_END
)  # fmt: skip
# "آخر موعد" is a deadline, "آخر يوم" a last day: not the newest report
_AKHIR = re.compile(
    WORD_START
    + AR_PREFIX
    + loose("آخر")
    + r"(?=\s+[^\W\d_])(?!\s+(?:"
    + "|".join(loose(w) for w in ("موعد", "أجل", "يوم", "مهلة", "العام", "السنة", "الشهر"))
    + r"))"
)
# "آخر" after these is "the latest"; after a noun it is "another" (شخص آخر)
_BEFORE_AKHIR = {
    fold(w) for w in "ما ماهو ماهي هو هي وش ايش شو عن في على حول بشأن بخصوص الى إلى من ماذا".split()
}


def _latest(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _LATEST_AR.finditer(text)]
    spans += [m.span() for m in _LATEST_EN.finditer(text)]
    for m in _AKHIR.finditer(text):
        before = text[: m.start()].split()
        if not before or fold(before[-1].strip("؟?،,")) in _BEFORE_AKHIR:
            spans.append(m.span())
    return spans


# -- reading a question ----------------------------------------------------------


def read_scope(question: str, today: date, outlets: Outlets = NO_OUTLETS) -> Scope:
    """The scope of ``question`` on the day ``today``."""
    text = question.translate(DIGITS)
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    sources: list[str] = []
    for a, b, oid in outlets.find(text):
        if free(a, b):
            taken.append((a, b))
            sources.append(oid)
    window: tuple[date | None, date | None] | None = None
    latest = False
    for pattern, kind in _date_rules():
        for m in pattern.finditer(text):
            if window is not None or not free(*m.span()):
                continue
            if _AHEAD.match(text, m.end()):
                continue  # "26 فبراير المقبل": a day ahead, the date of an event
            found = _absolute(kind, m, today)
            if found is not None:
                window = found
                taken.append(m.span())
                # "by 6 November": the newest report up to then
                latest = kind in ("until", "before")
    for pattern, kind in _relative_rules():
        for m in pattern.finditer(text):
            if window is not None or not free(*m.span()):
                continue
            rel = _relative(kind, m, today)
            if rel is not None:
                window = rel
                taken.append(m.span())
    for a, b in _latest(text):
        if free(a, b):
            taken.append((a, b))
            latest = True
    if not taken:
        return Scope(question, today=today)
    rest = text
    for a, b in sorted(taken, reverse=True):
        rest = rest[:a] + " " + rest[b:]
    rest = " ".join(rest.split())
    if not any(ch.isalpha() for ch in rest):
        rest = question
    since, until = window if window else (None, None)
    if latest and until is None:
        until = today  # nothing after the reader's today is "the latest"
    return Scope(rest, since, until, latest, tuple(dict.fromkeys(sources)), today)


_AHEAD = re.compile(
    r"\s*(?:"
    + "|".join(loose(w) for w in ("المقبل", "المقبلة", "القادم", "القادمة"))
    + r")"
    + WORD_END
)


def _absolute(kind: str, m: re.Match[str], today: date) -> tuple[date | None, date | None] | None:
    g = m.groupdict()
    if kind == "short-range":
        mon = g["rm"]
        month = 5 if fold(mon) == "may" else month_names()[fold(mon)]
        year = int(g["ry"]) if g.get("ry") else None
        try:
            last = date(year or today.year, month, int(g["r2"]))
            if year is None and last > today:
                last = last.replace(year=today.year - 1)
            first = last.replace(day=int(g["r1"]))
        except ValueError:
            return None
        return (first, last) if first <= last else None
    a = _date_from(m, "a_", today)
    if a is None:
        return None
    if kind == "range":
        b = _date_from(m, "b_", today)
        return (a, b) if b is not None and a <= b else None
    if kind == "since":
        return a, today if a <= today else None
    if kind == "after":
        return a + timedelta(days=1), today if a < today else None
    if kind == "before":
        return None, a - timedelta(days=1)
    if kind == "until":
        return None, a
    return a, a  # "on"


# -- saying it -------------------------------------------------------------------


def format_day(d: date, lang: str) -> str:
    """ "6 November 2023" / "6 نوفمبر 2023" (Western digits, as the bot writes)."""
    return format_date(d, "d MMMM y", locale="ar" if lang == "ar" else "en").translate(DIGITS)


def describe(scope: Scope, lang: str) -> str:
    """The window in words: "on 27 July 2015", "بين 6 و8 أغسطس 2015"..."""
    s, u = scope.since, scope.until
    if s and u and s == u:
        return ("يوم " if lang == "ar" else "on ") + format_day(s, lang)
    if s and u:
        if lang == "ar":
            return f"بين {format_day(s, lang)} و{format_day(u, lang)}"
        return f"between {format_day(s, lang)} and {format_day(u, lang)}"
    if s:
        return ("منذ " if lang == "ar" else "since ") + format_day(s, lang)
    if u:
        return ("حتى " if lang == "ar" else "up to ") + format_day(u, lang)
    return ""


def as_of_date(value: str | None) -> date | None:
    """``--as-of`` and a batch line's ``as_of``: YYYY-MM-DD, or None."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"as-of date {value!r} is not YYYY-MM-DD") from exc
