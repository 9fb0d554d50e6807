"""What may be cited: a pure test of a sentence or passage.

News pages carry text that is part of the page but says nothing about the news:
bylines and datelines standing alone ("عين اليوم – جدة", "الرياض 5 شوال 1436 هـ
الموافق 20 يوليو 2015 م واس"), a writer's contact line (an e-mail address, "للتواصل
أرسل SMS …"), links and handles, photo and agency credits, "read more" and tag
lines, wire end marks ("// انتهى //"), separators and verse. They stay in the stored
text (citations point into it), but are never quoted as evidence, and a passage
made only of them is never a search result.
"""

from __future__ import annotations

import re

from retrieval.text import sentence_spans

_DASH = r"[-–—ـ]"
# Links, addresses and handles: a sentence that is little else is not news.
_LINK = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+"  # e-mail
    r"|https?://\S+|www\.\S+|\b[\w-]+\.(?:com|net|org|sa)\b[^\s]*"  # links
    r"|(?:^|\s)[@#]\w{3,}",  # handles and hashtags
    re.I,
)
# Cheap tests that most sentences fail: only a sentence that passes one can hold a
# link, or (if it is long) be anything but news.
_MAYBE_LINK = re.compile(r"@|#|://|www\.|\.(?:com|net|org|sa)\b", re.I)
_MAYBE_CONTACT = re.compile(
    r"@|://|www\.|\.(?:com|net|org|sa)\b|للتواصل|لمراسلة|بالرمز|تابعو|follow|subscribe|sign up",
    re.I,
)
# Longer than every label, byline, dateline and half-line of verse.
_LONG = 150
# A writer's contact line and calls to follow or subscribe.
_CONTACT = re.compile(
    r"للتواصل مع الكاتب|لمراسلة الكاتب|للتواصل (?:أ|ا)رسل|تبد(?:أ|ا) بالرمز"
    r"|تابعونا|تابعوا (?:حساب|صفح)|follow us|subscribe to|sign up for our",
    re.I,
)
# Lines that are only a label of the page: whole-line patterns (stripped).
_LABELS = re.compile(
    r"^(?:"
    r"\.*\s*(?:ال)?مزيد|اقرأ (?:أيضا|أيضًا|ايضا|المزيد)|read more|related|more:?"
    r"|كلمات دلالية|الكلمات الدلالية|وسوم|tags?:?|next|previous|next previous"
    r"|/+\s*(?:انتهى|يتبع)\s*/+|(?:انتهى|يتبع)"
    r"|\*?\s*(?:خدمة|بالاتفاق مع)\s*«[^»]+»"
    r"|(?:تصوير|الصورة|صورة|photo|image|credit|getty|رويترز|أ ف ب|ا ف ب|afp|reuters|ap)"
    r"(?:\s*[:\-–]\s*.{0,40})?"
    r"|عنوان صحفي|إلى اللقاء\.*|وعلى دروب الخير نلتقي\.?"
    r")[\s.:!]*$",
    re.I,
)
# A byline or dateline standing alone: a few words either side of a dash, no verb
# to make a sentence of it ("عين اليوم – متابعات", "هيفاء عبدالله – عين اليوم").
_BYLINE = re.compile(rf"^[^\d.،,:؟?!]{{2,40}}\s{_DASH}+\s[^\d.،,:؟?!]{{2,40}}$")
# The wire's dateline: "الرياض 5 شوال 1436 هـ الموافق 20 يوليو 2015 م واس".
_WIRE_DATELINE = re.compile(r"هـ\s*الموافق.*\bواس\b|^\S+\s+\d{1,2}\s+\S+\s+\d{4}\s*(?:هـ|م)\b")
_BY = re.compile(r"^(?:by|بقلم|كتب(?:ت)?|إعداد|اعداد|متابعة|reporting by)\s*[:\-–]?\s*\S", re.I)
# Verse: two half-lines of similar length around a separator, with no sentence end.
_VERSE = re.compile(r"^([^.؟?!\d]{10,70}?)\s*(?:\*{2,3}|…|\.{3,})\s*([^.؟?!\d]{10,70})$")
_WORD = re.compile(r"[^\W\d_]{2,}")
# Diacritics and direction marks, which split words for ``_WORD``.
_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u200e\u200f\u202a-\u202e]")
# Navigation words a page template puts before its byline.
_NAV = re.compile(r"^(?:next|previous|\s)+", re.I)


def is_boilerplate(text: str) -> bool:
    """Whether one sentence (or a one-line paragraph) is page furniture, not news."""
    if len(text) > _LONG and not _MAYBE_CONTACT.search(text):
        return False  # a long sentence with no address, link or contact words: news
    s = _NAV.sub("", _MARKS.sub("", text).strip())
    words = _WORD.findall(s)
    if len(words) < 2:  # separators, lone numbers, "(Getty)", "* * *"
        return True
    if _CONTACT.search(s) or _LABELS.match(s):
        return True
    bare = _LINK.sub(" ", s) if _MAYBE_LINK.search(s) else s
    if bare != s and len(_WORD.findall(bare)) < 4:
        return True
    if len(words) <= 6 and (_BYLINE.match(s) or _BY.match(s)):
        return True
    if len(words) <= 10 and _WIRE_DATELINE.search(s):
        return True
    verse = _VERSE.match(s)
    if verse:
        a, b = len(verse.group(1)), len(verse.group(2))
        return 0.5 <= a / b <= 2.0
    return False


def citable_spans(text: str) -> list[tuple[int, int]]:
    """The spans of ``text``'s sentences that may be quoted."""
    return [(a, b) for a, b in sentence_spans(text) if not is_boilerplate(text[a:b])]


def is_citable(text: str) -> bool:
    """Whether a passage holds at least one sentence that may be quoted (a long
    one with no address, link or contact words is taken to: verse long enough to
    fill it is rare, and its lines are still never quoted)."""
    if len(text) > _LONG and not _MAYBE_CONTACT.search(text):
        return True
    return any(not is_boilerplate(text[a:b]) for a, b in sentence_spans(text))
