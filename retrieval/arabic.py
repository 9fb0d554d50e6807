"""Arabic-aware normalisation and a light stemmer for lexical search.

Normalisation: strip tashkeel and tatweel; unify alef forms (أ إ آ ٱ → ا),
alef maqsura (ى → ي) and taa marbuta (ة → ه); Arabic-Indic digits → 0-9;
punctuation out; Latin lower-cased.

The stemmer is "light": it removes a few frequent prefixes (the article ال with
the conjunctions and prepositions joined to it, و) and suffixes (plural, dual,
pronoun and nisba endings), and never cuts a word below three letters. Root
extractors and heavier stemmers conflate unrelated words (لاعبين → اعب); light
stemming is the better fit for retrieval.
"""

from __future__ import annotations

import re

TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_TRANSLATE = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        **{chr(0x0660 + i): str(i) for i in range(10)},  # ٠-٩
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # ۰-۹ (Persian forms)
    }
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")

# Longest first, so that وال is tried before ال.
PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
# At most one of each group, pronoun first: سياراتها → سيارات → سيار.
PRONOUN_SUFFIXES = ("هما", "هم", "ها", "كم")
SUFFIXES = ("ات", "ان", "ون", "ين", "يه", "ه", "ي")
MIN_STEM = 3
# Endings that are also the last letters of many names (لبنان, البحرين): cut only
# from longer words, so that لبنان does not become لبن (milk).
LONG_STEM_SUFFIXES = ("ان", "ين", "ون")

# Function words that carry no topic; dropped from queries and documents alike.
STOPWORDS = frozenset(
    """
    في من على الى عن مع ان او ثم قد لا لم لن ما هل كل بعد قبل عند هذا هذه ذلك تلك التي
    الذي الذين هو هي هم كان كانت يكون ايضا بين حتي حيث اذا كما غير لكن بل و ف ب ل ك a an
    the of in on at to for from by with and or is are was were be been what which who whom
    whose when where why how did does do that this these those it its as than into about
    """.split()
)


def normalise(text: str) -> str:
    text = TASHKEEL.sub("", text)
    return text.translate(_TRANSLATE).lower()


def stem(word: str) -> str:
    """Light stem of one normalised word."""
    if not _ARABIC_LETTER.match(word):
        return word
    for prefix in PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= MIN_STEM - 1:
            word = word[len(prefix) :]
            break
    else:
        # و is also a root letter (وزير, وقت): strip it only from longer words.
        if word.startswith("و") and len(word) - 1 >= MIN_STEM + 1:
            word = word[1:]
    for group in (PRONOUN_SUFFIXES, SUFFIXES):
        for suffix in group:
            need = MIN_STEM + 1 if suffix in LONG_STEM_SUFFIXES else MIN_STEM
            if word.endswith(suffix) and len(word) - len(suffix) >= need:
                word = word[: -len(suffix)]
                break
    return word


def terms(text: str) -> list[str]:
    """Index terms of a text: normalised, stemmed, without stop words."""
    out = []
    for token in _TOKEN.findall(normalise(text)):
        if token in STOPWORDS:
            continue
        out.append(stem(token))
    return out
