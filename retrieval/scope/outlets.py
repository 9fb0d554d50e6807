"""The outlets readers name: "what did Okaz say", "ماذا نشرت صحيفة الرياض".

Words that are also outlet names ("اليوم", "الرياض", "المدينة") are read as an
outlet only after a word that names one ("صحيفة الرياض"); an outlet's distinctive
names (عكاظ, Okaz) are read anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from retrieval.scope.names import AR_PREFIX, WORD_END, WORD_START, alternation, fold

# Words before an outlet's name that make it one: "صحيفة الرياض", "قالت الرياض"
# (a paper "says" in the feminine), "the paper Al Riyadh"; and in English the
# verb after it: "what did X say".
_CUE = (
    r"(?:"
    + AR_PREFIX
    + r"(?:صحيفة|صحيفه|جريدة|جريده|موقع)|(?:ماذا\s+)?(?:قالت|ذكرت|نشرت|أوردت|اوردت|أفادت|افادت)"
    + r"|newspaper|paper)\s+"
)
_SAYS = r"(?=\s+(?:say|said|report|reported|write|wrote|publish|published|cover|covered)\b)"
_ACCORDING = (
    r"(?:according\s+to|as\s+reported\s+by|reported\s+by|"
    + AR_PREFIX
    + r"حسب|بحسب|وفق(?:ا|اً)?\s*ل|حسبما\s+(?:ذكرت|نشرت|قالت))\s+"
)


@dataclass(frozen=True)
class Outlet:
    id: str
    ar: str = ""
    en: str = ""
    names: tuple[str, ...] = ()  # read anywhere
    cued: tuple[str, ...] = ()  # read only after "صحيفة", "newspaper"...
    not_after: tuple[str, ...] = ()  # words that make a name something else (سوق عكاظ)

    def name(self, lang: str) -> str:
        return (self.ar if lang == "ar" else self.en) or self.en or self.ar or self.id


class Outlets:
    """The outlets readers may name: the configured ones (display names and
    aliases in Arabic and English) and any other source the store holds, by its id.
    An id ("was", "alyaum") may be a common word: it is read only where a cue
    says an outlet is meant."""

    def __init__(self, configured: Mapping[str, Mapping[str, Any]], sources: Iterable[str] = ()):
        self.by_id: dict[str, Outlet] = {}
        for oid, spec in configured.items():
            ar, en = str(spec.get("ar", "")), str(spec.get("en", ""))
            names = tuple(str(a) for a in spec.get("aliases", ()) if a)
            cued = tuple(n for n in (oid, ar, en, *map(str, spec.get("cued", ()))) if n)
            not_after = tuple(str(w) for w in spec.get("not_after", ()))
            self.by_id[oid] = Outlet(oid, ar, en, names, cued, not_after)
        for s in sources:
            if s and s not in self.by_id:
                self.by_id[s] = Outlet(s, cued=(s,))
        anywhere: dict[str, str] = {}
        after_cue: dict[str, str] = {}
        for o in self.by_id.values():
            for n in o.names:
                anywhere[fold(n)] = o.id
            for n in o.cued:
                after_cue[fold(n)] = o.id
        self._anywhere, self._after_cue = anywhere, after_cue
        any_name = alternation(anywhere)
        cue_name = alternation({**after_cue, **anywhere})
        parts = []
        if cue_name:
            parts.append(
                rf"(?:{_ACCORDING}|(?:{_ACCORDING})?{_CUE})(?:ال)?(?P<cued>{cue_name}){WORD_END}"
            )
            parts.append(rf"(?<=did )(?:the\s+)?(?P<says>{cue_name}){_SAYS}")
        if any_name:
            parts.append(rf"(?:{_ACCORDING})?{WORD_START}{AR_PREFIX}(?P<any>{any_name}){WORD_END}")
        self._pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def name(self, source: str | None, lang: str) -> str:
        if not source:
            return ""
        outlet = self.by_id.get(source)
        return outlet.name(lang) if outlet else source

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, outlet id) of every outlet named in ``text``."""
        if self._pattern is None:
            return []
        out = []
        for m in self._pattern.finditer(text):
            word = fold(m.group("cued") or m.group("says") or m.group("any"))
            oid = self._anywhere.get(word) or self._after_cue.get(word)
            if oid is None and word.startswith("ال"):
                oid = self._anywhere.get(word[2:]) or self._after_cue.get(word[2:])
            if oid is None:
                continue
            before = text[: m.start()].split()[-1:]
            if before and fold(before[0]) in {fold(w) for w in self.by_id[oid].not_after}:
                continue
            out.append((m.start(), m.end(), oid))
        return out


NO_OUTLETS = Outlets({})
