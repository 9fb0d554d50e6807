"""Greetings, thanks and questions about the bot: answered by the bot, not the coverage.

A message is small talk when the whole of it is made of such phrases ("مرحبا",
"شكرًا جزيلًا 🙏", "who are you?", "tell me a joke"); a real question that opens
with one ("مرحبا، كم عدد ضحايا الحريق؟") is a question, searched without the
greeting. The reply is short, in the reader's language, and says what rawi does
and what coverage it holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from retrieval.arabic import TASHKEEL, normalise

# Each kind's phrases, on normalised text (أ→ا, ة→ه, ى→ي, lower case). Longer
# phrases first inside an alternation so that they win.
_PHRASES: dict[str, tuple[str, ...]] = {
    "about": (
        # Arabic: who/what are you, what can you do, how do you work, are you a bot
        r"(?:من|مين|شو|ايش|وش|ما) (?:انت|انتي|انتم|تكون|هو انت|اسمك)",
        r"(?:ما|شو|ايش|وش) اسمك",
        r"(?:عرف|عرفني|عرفنا) (?:ب)?(?:نفسك|عن نفسك)",
        r"(?:هل )?(?:انت|انتي) (?:بوت|روبوت|انسان|حقيقي|ذكاء اصطناعي|الي|آلي|برنامج)",
        r"(?:ماذا|شو|ايش|وش|ما(?:ذا)?|ما الذي) (?:تستطيع|تقدر|يمكنك|بامكانك|تعرف)"
        r"(?: (?:ان )?(?:تفعل|تسوي|تعمل|تساعدني(?: فيه| به)?|فعله|عمله))?",
        r"(?:ماذا|شو|ايش|وش|ما) (?:تفعل|تسوي|تعمل|وظيفتك|عملك|دورك|فائدتك|فايدتك|قدراتك)",
        r"(?:من|مين|منو)(?: اللي| الذي)? (?:صنعك|عملك|برمجك|سواك|طورك|صممك)",
        r"(?:منو|شنو) (?:انت|انتي)",
        r"(?:شنو|شو|ايش|وش) (?:بتعمل|بتسوي|تسوي|تعمل)(?: انت)?",
        r"(?:هل )?(?:انت|انتي) (?:انسان|بوت|روبوت)(?: (?:ولا|او|أو) (?:انسان|بوت|روبوت))?",
        r"who (?:made|built|created|programmed|developed) (?:you|u|this bot)",
        r"كيف (?:تعمل|تشتغل|اسالك|استخدمك|استعملك|اتعامل معك|يعمل البوت)",
        r"(?:ساعدني|مساعده|تعليمات|المساعده)",
        # English
        r"who (?:are|r) (?:you|u)",
        r"what (?:are|r) (?:you|u)(?: exactly)?",
        r"what(?:'s| is) your name",
        r"(?:tell me )?about (?:yourself|you)",
        r"introduce yourself",
        r"(?:are|r) (?:you|u) (?:a )?(?:bot|robot|human|real|person|an? ai|ai|machine|chatgpt)",
        r"what (?:can|do) (?:you|u) do",
        r"what (?:are you|is this bot) (?:for|good for)",
        r"what do you know",
        r"what (?:can|should) i ask(?: you)?",
        r"(?:are|r) (?:you|u) (?:a )?real(?: person| human)?",
        r"how (?:do|does) (?:you|this|it) work",
        r"how (?:do|can|should) i (?:use|ask) (?:you|this|it)",
        r"(?:can you )?help(?: me)?",
    ),
    "joke": (
        r"(?:قل|قول|احكي|احك|اعطني|عطني|هات|ابي|ابغي|اريد)(?: لي| لنا)? نكت(?:ه|ة)",
        r"نكت(?:ه|ة)(?: يا)?",
        r"(?:ضحكني|اضحكني|فرفشني)",
        r"(?:tell|give) (?:me|us) a joke",
        r"(?:say|tell) something funny",
        r"make me laugh",
        r"(?:a )?joke(?: please)?",
    ),
    "thanks": (
        r"(?:شكرا|شكرًا|شكر)(?: جزيلا| جزيلًا| لك| لكم| كثير| كثيرا| يا)*",
        r"(?:الف|مليون) شكر",
        r"مشكور(?:ين)?(?: يا)?",
        r"(?:الله )?يعطيك(?: الف)? العافيه",
        r"(?:جزاك|جزاكم) الله(?: خير| خيرا)?",
        r"تسلم(?: ايدك| يدك)?",
        r"ما قصرت(?:وا)?",
        r"ممنون(?:ك)?",
        r"thanks?(?: you)?(?: (?:so|very) much)?(?: a lot)?",
        r"thx|ty|cheers(?: mate)?|much appreciated|appreciate it|many thanks",
        r"(?:that was|that's|very) (?:helpful|useful)",
        r"(?:الله )?(?:يجزاك|يجزيك|جزاك الله)(?: الله)?(?: خير| خيرا)?",
        r"ثانكس|ثانكيو|ميرسي(?: بزاف)?|merci(?: beaucoup)?",
    ),
    "bye": (
        r"مع السلامه",
        r"(?:الى|إلى) اللقاء",
        r"(?:تصبح|تصبحون|تصبحي) (?:علي|على) خير",
        r"في امان الله",
        r"(?:يلا )?باي(?: باي)?",
        r"(?:good ?)?bye(?: bye)?|see (?:you|ya)(?: later)?|good night|later|farewell",
    ),
    "greeting": (
        r"(?:ال)?سلام عليكم(?: ورحمه الله(?: وبركاته)?)?",
        r"وعليكم السلام(?: ورحمه الله(?: وبركاته)?)?",
        r"(?:يا )?(?:مرحبا|مرحبتين|مراحب|اهلا(?: وسهلا)?|اهلين|هلا(?: والله)?|هاي|هلو"
        r"|حياك(?: الله)?)",
        r"(?:صباح|مساء|مسا) (?:الخير|النور|الورد|الفل)",
        r"صباحو|مساكم|سلام|لاباس(?: عليك)?|يو",
        r"(?:كيف حالك|كيف حالكم|كيف الحال|كيفك|كيفكم|شلونك|شلونكم|شخبارك|اخبارك|عامل ايه|ازيك"
        r"|ازيكم)(?: اليوم)?",
        r"(?:انا )?(?:بخير|الحمد لله|الحمدلله)(?: الحمد لله| والحمد لله)?",
        r"(?:hi|hello|hey|hiya|howdy|yo|greetings|salam|salaam|marhaba)(?: there| again| all)?",
        r"(?:good )?(?:morning|afternoon|evening|day)(?: all| everyone)?",
        r"how (?:are|r) (?:you|u)(?: doing)?(?: today)?|how(?:'s| is) it going",
        r"what(?:'s| is) up|sup",
        r"nice to meet you",
    ),
    "ack": (
        r"(?:تمام|اوكي|اوك|حسنا|طيب|ممتاز|رائع|جميل|حلو|زين|اوكيه|ماشي|فهمت|تمام التمام)",
        r"(?:انت )?(?:رائع|شاطر|ذكي|ممتاز|جميل|غبي|سيء)",
        r"(?:ok|okay|k|cool|nice(?: one)?|great|awesome|perfect|got it|i see|alright|fine|good"
        r"|wow)",
        r"lol|lmao|ha(?:ha)+|ه{3,}|خلاص|فهمت",
        r"(?:this|the) bot is (?:useless|great|stupid|good|bad|amazing)",
        r"(?:good|bad|great|nice|smart|stupid|dumb) bot",
        r"(?:you(?:'re| are) |ur )?(?:great|awesome|smart|stupid|useless|the best|amazing|helpful)",
        r"(?:i )?love (?:you|u|this)",
    ),
}
# Words said around such phrases that add nothing: vocatives, the bot's name, fillers.
_FILLER = (
    r"(?:يا بوت|يا راوي|يا|بوت|راوي|اخي|اخوي|عزيزي|والله|جدا|كثير|please|pls|bot|rawi|dear"
    r"|friend|oh|so|again|very|really|much)"
)
_ORDER = ("about", "joke", "thanks", "bye", "greeting", "ack")
# Each phrase must end where a word ends ("هلا" is not the start of "هلال", "yo" not
# of "you're"), so that the alternation moves on to the phrase that does.
_END = r"(?![^\W_])"
_PIECE = re.compile(
    "|".join(f"(?P<{kind}>(?:{'|'.join(_PHRASES[kind])}){_END})" for kind in _ORDER)
    + f"|{_FILLER}{_END}"
)
_OPENERS = ("greeting", "thanks", "ack", None)
_SEPARATORS = re.compile(r"[\s\W_]+", re.UNICODE)


def _pieces(text: str) -> list[tuple[int, int, str | None]]:
    """Small-talk phrases matched from the start of ``text``, one after another
    (with separators between); stops at the first word that is not one."""
    out: list[tuple[int, int, str | None]] = []
    pos = 0
    while True:
        sep = _SEPARATORS.match(text, pos)
        if sep:
            pos = sep.end()
        if pos >= len(text):
            return out
        m = _PIECE.match(text, pos)
        if not m:
            return out
        out.append((m.start(), m.end(), m.lastgroup))
        pos = m.end()


def _clean(text: str) -> str:
    """Normalised as the lexical index does (diacritics dropped, letters unified,
    lower case); the same length as ``text`` but for the diacritics."""
    return normalise(text).replace("؟", "?")


def smalltalk_kind(text: str) -> str | None:
    """The kind of small talk ``text`` is (about, joke, thanks, bye, greeting, ack),
    or None when it holds anything else (a question for the coverage)."""
    clean = _clean(text).strip()
    if not clean:
        return None
    if not re.search(r"\w", clean):
        return "ack"  # emoji and punctuation only: 👍, 🙏, ❤️
    pieces = _pieces(clean)
    if not pieces or _SEPARATORS.sub("", clean[pieces[-1][1] :]):
        return None
    kinds = {kind for _, _, kind in pieces if kind}
    return next((k for k in _ORDER if k in kinds), "ack")


def without_greeting(text: str) -> str:
    """``text`` without the greetings and thanks it opens with ("مرحبا، كم …" →
    "كم …"); unchanged when it opens with none or is nothing else."""
    clean = _clean(text)
    cut = 0
    for _, end, kind in _pieces(clean):  # only what greets or thanks: "how do you
        if kind not in _OPENERS:  # work" may open "how does the new system work"
            break
        cut = end
    if not cut or not _SEPARATORS.sub("", clean[cut:]):
        return text
    # _clean() drops diacritics and keeps every other character in place
    kept = [i for i, ch in enumerate(text) if not TASHKEEL.match(ch)]
    return text[kept[cut] :].lstrip(" \t\n،,.!?؟:;-–—")


REPLIES: dict[str, dict[str, str]] = {
    "greeting": {
        "en": "Hello! I answer questions about the news coverage I hold, with the exact "
        "paragraphs behind every answer.",
        "ar": "أهلًا بك! أجيب عن الأسئلة حول التغطية الإخبارية المتاحة لدي، وأذكر الفقرات التي "
        "تستند إليها كل إجابة.",
    },
    "thanks": {
        "en": "You're welcome! Ask me anything else about the coverage.",
        "ar": "العفو! اسألني ما شئت عن التغطية.",
    },
    "bye": {
        "en": "Goodbye! Come back with any question about the news.",
        "ar": "في أمان الله! عد متى شئت بسؤال عن الأخبار.",
    },
    "about": {
        "en": "I am rawi, a bot that answers questions about this newsroom's coverage. I quote "
        "the paragraphs that answer and link every source; when the coverage does not "
        "answer, I say so.",
        "ar": "أنا راوي، بوت يجيب عن الأسئلة حول تغطية هذه المؤسسة الإخبارية. أقتبس الفقرات "
        "التي تجيب وأذكر مصدر كل منها، وإن لم تجب التغطية عن سؤالك أقول ذلك.",
    },
    "joke": {
        "en": "I only know the news, and I keep to what it says. Ask me about the coverage"
        " instead.",
        "ar": "لا أعرف إلا الأخبار، ولا أقول إلا ما فيها. اسألني عن التغطية بدلًا من ذلك.",
    },
    "ack": {
        "en": "👍 Ask me anything about the coverage.",
        "ar": "👍 اسألني ما شئت عن التغطية.",
    },
}
_COVERAGE = {
    "en": "I hold {articles} articles{span}{outlets}.",
    "ar": "لدي {articles} مقالة{span}{outlets}.",
}
_EXAMPLE = {
    "en": 'Ask in Arabic or English, for example: "{example}"',
    "ar": "اسأل بالعربية أو بالإنجليزية، مثلًا: «{example}»",
}
EXAMPLES = {"en": "What did the coverage say about …?", "ar": "ماذا قالت التغطية عن …؟"}


def coverage_line(lang: str, coverage: Mapping[str, Any]) -> str:
    """One sentence on what the store holds: articles, dates, outlets."""
    span = ""
    if coverage.get("first"):
        first, last = coverage["first"], coverage["last"]
        dates = first if first == last else f"{first} – {last}"
        span = f" ({dates})"
    outlets = ""
    sources = list(coverage.get("sources") or [])[:8]
    if sources:
        joined = ("، " if lang == "ar" else ", ").join(sources)
        outlets = f" من {joined}" if lang == "ar" else f" from {joined}"
    return _COVERAGE[lang].format(articles=coverage.get("articles", 0), span=span, outlets=outlets)


def reply(kind: str, lang: str, coverage: Mapping[str, Any]) -> str:
    """The bot's answer to small talk of ``kind``, in ``lang`` (ar or en)."""
    lang = "ar" if lang == "ar" else "en"
    parts = [REPLIES[kind][lang]]
    if kind in ("greeting", "about", "joke"):
        parts.append(coverage_line(lang, coverage))
        parts.append(_EXAMPLE[lang].format(example=EXAMPLES[lang]))
    return "\n\n".join(parts)
