"""The words a question says time with: CLDR month and weekday names (Babel), in
Arabic (Gulf/Egyptian and Levantine months) and English, number words, and
patterns that accept the usual variants of Arabic letters."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from babel.dates import get_day_names, get_month_names

DIGITS = str.maketrans(
    {**{chr(0x0660 + i): str(i) for i in range(10)}, **{chr(0x06F0 + i): str(i) for i in range(10)}}
)
_LOOSE = {"ا": "[اأإآ]", "أ": "[اأإآ]", "إ": "[اأإآ]", "آ": "[اأإآ]", "ة": "[ةه]", "ه": "[ةه]",
          "ى": "[ىي]", "ي": "[ىي]"}  # fmt: skip
# an Arabic word may carry a joined conjunction or preposition (و، ب، ل، ف)
AR_PREFIX = r"(?:[وفبل]{1,2})?"
WORD_START = r"(?<![\w])"  # a word's start
WORD_END = r"(?![\w])"  # a word's end


def loose(word: str) -> str:
    """A pattern for ``word`` that accepts the usual variants of its Arabic letters
    (alef forms, taa marbuta, alef maqsura) and any case."""
    return "".join(_LOOSE.get(ch, re.escape(ch)) for ch in word.lower())


def alternation(names: Iterable[str]) -> str:
    return "|".join(loose(n) for n in sorted(set(names), key=len, reverse=True))


def fold(word: str) -> str:
    return word.lower().translate(str.maketrans("أإآةى", "اااهي"))


@cache
def month_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for locale in ("en", "ar", "ar_SY"):
        for width in ("wide", "abbreviated"):
            for n, name in get_month_names(width, locale=locale).items():
                names[fold(name.rstrip("."))] = int(n)
    names[fold("sept")] = 9
    names[fold("اغسطس")] = 8  # a common spelling CLDR lacks
    names[fold("ابريل")] = 4
    names.pop(fold("may"), None)  # "may" is read only beside a day or a year (below)
    return names


@cache
def weekday_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for locale in ("en", "ar"):
        for n, name in get_day_names("wide", locale=locale).items():
            names[fold(name)] = int(n)  # Monday = 0
    return names


NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "ten": 10, "واحد": 1, "يومين": 2, "اثنين": 2, "ثلاثة": 3, "ثلاث": 3, "اربعة": 4,
    "اربع": 4, "خمسة": 5, "خمس": 5, "ستة": 6, "ست": 6, "سبعة": 7, "سبع": 7, "عشرة": 10,
    "الثلاثة": 3, "الاربعة": 4, "الخمسة": 5, "السبعة": 7, "العشرة": 10,
}  # fmt: skip


def number(word: str) -> int | None:
    word = fold(word)
    if word.isdigit():
        return int(word)
    return next((n for w, n in NUMBER_WORDS.items() if fold(w) == word), None)
