"""Whether a question leans on the reader's previous one.

A follow-up ("and how many of them were children?", "وماذا عن الأردن؟", "why?")
means little alone, so it is searched together with the question before it. A
question that can stand alone must not be: mixing it with an unrelated earlier
question gives the earlier question's answer. So the decision asks for an
explicit cue:

- it opens with a connective: "and / but / so / also / what about / how about",
  "و / ف" joined to a question word or a noun with its article ("وكم", "والرياض؟"),
  "ماذا عن", "طيب و", "وش عن";
- or its subject is only a pronoun, a demonstrative or nothing at all: a question
  with no word of its own beyond question words, pronouns and generic nouns
  ("كم عددهم؟", "متى حدث ذلك؟", "who is he?", "in which year?"), or a question
  word and a word or two that name nobody ("who attended?", "مين ربح؟").

"ما هي / ما هو / من هو" are how Arabic asks "what is / who is": their pronoun is
a copula, not a reference, and the words around it are the question's own.
"""

from __future__ import annotations

import re

from retrieval.arabic import normalise

# English: a connective at the start.
_EN_OPENER = re.compile(
    r"^(?:and|but|so|also|then|plus|or|what about|how about|what of|and what about)\b"
    # a question that is only a place or a group: "in Riyadh?", "among women?"
    r"|^(?:in|at|among|for|from|on|by|during|after|before)\b(?:\W+\w+){0,2}\W*$",
    re.I,
)
# Arabic: و/ف joined to a question word or to a noun with its article, or a
# connective phrase (normalised text: أ→ا, ة→ه, ى→ي).
# Question words, standard and dialect (normalised: امتي is إمتى, شكد "how much").
_AR_DIALECT_QUESTION_WORDS = (
    "امتي متي فين وين فوقاش شكون منو شنو شو ايش وش شكد شحال قديش اديش كام بكام بكم ازاي"
    " ليه ليش اشمعني شوكت انهي اني ايه"
)
_AR_QUESTION_WORDS = (
    r"(?:كم|ما|ماذا|من|مين|متي|اين|هل|لماذا|كيف|اي|"
    + "|".join(_AR_DIALECT_QUESTION_WORDS.split())
    + ")"
)
_AR_OPENER = re.compile(
    rf"^(?:[وف]{_AR_QUESTION_WORDS}\b"
    r"|[وف](?:امس|اليوم|غدا|بكره|الان|بعدها|قبلها|بعده|قبله)\b"
    r"|[وف](?:ال|بال|لل|في |عن |من |علي |الي |بين |عند |لدي )"
    r"|(?:و|ف)?(?:ماذا|ايش|وش|شو|طيب|طب|بس|اذن|يعني) (?:عن|بالنسبه)\b"
    r"|(?:طيب|طب|حسنا|اوكي|تمام)[ ،,]+[وف]?"
    r"|كمان\b|ايضا\b"
    r"|(?:في|بين|عند|لدي|خلال|بعد|قبل)\b(?:\W+\w+){0,2}\W*$)"
)
# Words that start with و/ف+ال but are not "and the …".
_AR_NOT_OPENER = re.compile(r"^(?:والد|والده|والدي|والدين|والي\b|فالح|فالنسيا)")

# Words that name nothing by themselves: question words, pronouns, demonstratives,
# auxiliaries, and generic nouns a follow-up asks with ("how many", "in which year").
_EN_EMPTY = frozenset(
    """
        a an the of in on at to for from by with about and or but so then also what which
        who whom whose when where why how is are was were be been being am do does did has
        have had will would can could should may might must shall it its it's he him his she
        her hers they them their theirs this that these those there here one ones such same
        other others many much more most some any all number amount total year years date
        day days time times month week place reason cause happened what's who's where's
        how's when's happen happens say said says tell me about exactly again else now then
        after before later earlier next last first please so i you we us our your yes no not
        still right really more less ok okay people thing things kind detail details
    """.split()
)
_EN_REFERENCES = frozenset(
    """
        it its it's he him his she her hers they them their theirs this that these those
        there
    """.split()
)
_AR_EMPTY = frozenset(_AR_DIALECT_QUESTION_WORDS.split()) | frozenset(
    normalise(w)
    for w in [
        # dialect: now, still, or not, someone, thing
        "هسه",
        "هلق",
        "دلوقتي",
        "الحين",
        "لسه",
        "ولا",
        "حد",
        "احد",
        "شي",
        "حاجه",
        "و",
        "ف",
        "في",
        "من",
        "على",
        "علي",
        "إلى",
        "الى",
        "عن",
        "مع",
        "ب",
        "ل",
        "ك",
        "ما",
        "ماذا",
        "من",
        "مين",
        "متى",
        "متي",
        "أين",
        "اين",
        "وين",
        "هل",
        "لماذا",
        "ليش",
        "ليه",
        "كيف",
        "شو",
        "ايش",
        "إيش",
        "وش",
        "أي",
        "اي",
        "أية",
        "اية",
        "كم",
        "هو",
        "هي",
        "هم",
        "هن",
        "هما",
        "أنا",
        "انت",
        "أنت",
        "نحن",
        "هذا",
        "هذه",
        "ذلك",
        "تلك",
        "هؤلاء",
        "اولئك",
        "أولئك",
        "هناك",
        "هنا",
        "الذي",
        "التي",
        "الذين",
        "اللي",
        "كان",
        "كانت",
        "يكون",
        "تكون",
        "صار",
        "حدث",
        "جرى",
        "يحدث",
        "قال",
        "قالت",
        "يقول",
        "ذكر",
        "العدد",
        "عدد",
        "عددهم",
        "عددها",
        "السبب",
        "سبب",
        "سببه",
        "سببها",
        "السنة",
        "سنة",
        "العام",
        "عام",
        "اليوم",
        "يوم",
        "الوقت",
        "وقت",
        "الشهر",
        "شهر",
        "المكان",
        "مكان",
        "التاريخ",
        "تاريخ",
        "بعد",
        "قبل",
        "ذلك",
        "بعدها",
        "قبلها",
        "بعده",
        "قبله",
        "ايضا",
        "أيضا",
        "كمان",
        "بس",
        "طيب",
        "طب",
        "يعني",
        "إذن",
        "اذن",
        "الآن",
        "الان",
        "حاليا",
        "بالضبط",
        "تحديدا",
        "بالتحديد",
        "منهم",
        "منها",
        "عنهم",
        "عنها",
        "لهم",
        "لها",
        "فيها",
        "فيهم",
        "بينهم",
        "عليه",
        "عليها",
        "عليهم",
        "له",
        "به",
        "بها",
        "بهم",
        "فيه",
        "منه",
        "عنه",
        "إليه",
        "اليه",
        "ذاك",
        "ثم",
        "تم",
        "حصل",
        "حصلت",
        "صارت",
        "المزيد",
        "تفاصيل",
        "التفاصيل",
        "حجم",
        "نسبه",
        "قيمه",
        "مده",
        "ساعه",
        "ساعات",
        "دقيقه",
        "دقائق",
        "ايام",
        "اسبوع",
        "قديش",
        "اديش",
        "قديه",
        "واحد",
        "أكثر",
        "اكثر",
        "أقل",
        "اقل",
        "الثاني",
        "الاول",
        "الأول",
        "التالي",
        "السابق",
        "الماضي",
        "المقبل",
    ]
)
# A pronoun attached to a word refers back: عددهم, فوزه, حضرها, منهم. Read on the
# unnormalised word, where ة (a feminine ending, not a pronoun) is still itself.
_AR_ATTACHED = re.compile(r"^\w{2,}(?:هم|هما|ها|ه)$")
_AR_NOT_ATTACHED = frozenset(
    ["الله", "والله", "بالله", "لله", "وجه", "اتجاه", "مياه", "شبه", "انتباه", "نزيه"]
)
_AR_REFERENCES = frozenset(
    normalise(w) for w in ["ذلك", "تلك", "هذا", "هذه", "هؤلاء", "هناك", "ذاك"]
)
_AR_ASKS = re.compile(rf"[وف]?{_AR_QUESTION_WORDS}\b")
_AR_COPULA = re.compile(rf"^[وف]?{_AR_QUESTION_WORDS} (?:هو|هي|هم|هن)\b")
_EN_ASKS = re.compile(
    r"(?:who|whom|whose|what|which|when|where|why|how|any|did|does|do|is|are|was|were)\b"
)
_TOKEN = re.compile(r"[^\W_]+(?:'[a-z]+)?", re.UNICODE)


def _own_words(question: str, english: bool) -> tuple[list[str], bool]:
    """The question's words that name something, and whether it refers back."""
    own: list[str] = []
    refers = False
    for raw in _TOKEN.findall(question):
        token = normalise(raw)
        if english:
            if token in _EN_REFERENCES:
                refers = True
            if token not in _EN_EMPTY and not token.isdigit():
                own.append(token)
            continue
        if token in _AR_REFERENCES or (_AR_ATTACHED.match(raw) and raw not in _AR_NOT_ATTACHED):
            refers = True  # عددهم, فوزه, حضرها, منهم, ذلك
            continue
        if token not in _AR_EMPTY and not token.isdigit():
            own.append(token)
    return own, refers


def is_followup(question: str) -> bool:
    """Whether ``question`` cannot stand alone (see the module doc)."""
    text = normalise(question).strip()
    english = not re.search(r"[\u0600-\u06ff]", text)
    if english:
        if _EN_OPENER.search(text):
            return True
    elif _AR_OPENER.search(text) and not _AR_NOT_OPENER.search(text):
        return True
    own, refers = _own_words(question, english)
    if not own:
        return True  # nothing but question words, pronouns and generic nouns
    # A reference back with at most one word of its own: "how many of them were
    # children?", "what did he say?", "كم عدد الأطفال منهم؟"
    if refers and len(own) <= 1:
        return True
    # A question with little of its own and no name in it asks about what came
    # before: "who attended?", "what was the final score?", "مين ربح؟", "متى انتهت؟".
    # In English a name is capitalised; in Arabic "ما هي / من هو" introduce one.
    if english:
        return len(own) <= 2 and _EN_ASKS.match(text) is not None and not _named(question)
    return len(own) <= 1 and _AR_ASKS.match(text) is not None and not _AR_COPULA.search(text)


def _named(question: str) -> bool:
    """Whether an English question names something: a capitalised word or a number
    past its first word."""
    words = re.findall(r"[^\W_]+", question)[1:]
    return any(w[0].isupper() or w[0].isdigit() for w in words)
