"""What the bot says to readers, in Arabic and English, and whose language a
message is in."""

from __future__ import annotations

from typing import Any

from telegram import Update

from retrieval.text import detect_language

TEXTS = {
    "help": {
        "en": (
            "I answer questions about the news coverage I hold, and cite the exact paragraphs "
            "behind every answer.\n\nI know {articles} articles{span}{outlets}.\n\n"
            "Ask in Arabic or English. In a group, mention me, reply to me, or use /ask.\n\n"
            "You can ask about a time or an outlet:\n"
            "• What is the latest on the Yemen truce? (or /latest Yemen truce)\n"
            "• What happened in Aden on 6 August 2015?\n"
            "• What did Okaz report about the Hajj?\n"
            "• What was reported about oil prices yesterday? this week? since 3 August?"
        ),
        "ar": (
            "أجيب عن الأسئلة حول التغطية الإخبارية المتاحة لدي، وأذكر الفقرات التي استندت إليها "
            "في كل إجابة.\n\nلدي {articles} مقالًا{span}{outlets}.\n\n"
            "اسأل بالعربية أو بالإنجليزية. في المجموعات: اذكرني أو رُدّ على رسالتي أو استخدم /ask."
            "\n\nيمكنك السؤال عن وقت أو عن صحيفة:\n"
            "• ما آخر مستجدات الهدنة في اليمن؟ (أو /latest الهدنة في اليمن)\n"
            "• ماذا حدث في عدن يوم 6 أغسطس 2015؟\n"
            "• ماذا قالت عكاظ عن الحج؟\n"
            "• ماذا نُشر عن أسعار النفط أمس؟ هذا الأسبوع؟ منذ 3 أغسطس؟"
        ),
    },
    "latest": {
        "en": "What is the latest on {topic}?",
        "ar": "ما آخر مستجدات {topic}؟",
    },
    "latest_usage": {
        "en": "Send /latest and a subject, for example: /latest oil prices",
        "ar": "أرسل /latest ثم الموضوع، مثل: /latest أسعار النفط",
    },
    "too_long": {
        "en": "That question is too long (over {limit} characters). Please shorten it.",
        "ar": "السؤال طويل جدًا (أكثر من {limit} حرف). اختصره من فضلك.",
    },
    "empty": {
        "en": "Send me a question in words, in Arabic or English.",
        "ar": "أرسل سؤالك نصًا، بالعربية أو بالإنجليزية.",
    },
    "ask_usage": {
        "en": "Send /ask and your question, for example: /ask What happened in Aden?",
        "ar": "أرسل /ask ثم سؤالك، مثل: /ask ماذا حدث في عدن؟",
    },
    "rate_limited": {
        "en": "You are asking faster than I can keep up ({limit} questions a minute at most). "
        "Please wait a moment and ask again.",
        "ar": "أسئلتك أسرع مما أستطيع مجاراته (لا أكثر من {limit} سؤالًا في الدقيقة). "
        "انتظر قليلًا ثم اسأل مجددًا.",
    },
    "unknown_command": {
        "en": "I don't know that command. Send /help to see what I can do.",
        "ar": "لا أعرف هذا الأمر. أرسل /help لترى ما يمكنني فعله.",
    },
    "vote_thanks": {"en": "Thank you for the feedback.", "ar": "شكرًا على رأيك."},
    "vote_changed": {
        "en": "Your rating is changed. Thank you.",
        "ar": "غُيِّر تقييمك. شكرًا لك.",
    },
    "vote_again": {
        "en": "You have already rated this answer.",
        "ar": "لقد قيّمت هذه الإجابة من قبل.",
    },
    "vote_gone": {
        "en": "This answer is too old to rate.",
        "ar": "هذه الإجابة أقدم من أن تُقيَّم.",
    },
    "unavailable": {
        "en": "The coverage is temporarily unavailable. Please ask again in a minute.",
        "ar": "التغطية غير متاحة مؤقتًا. اسأل مرة أخرى بعد دقيقة.",
    },
    "error": {
        "en": "Something went wrong while answering. Please try again in a moment.",
        "ar": "حدث خطأ أثناء الإجابة. حاول مرة أخرى بعد قليل.",
    },
}


def lang_of(update: Update, text: str = "") -> str:
    """The language to answer in: that of the words of ``text``, or for a message
    without any (an emoji, a number) the reader's Telegram language."""
    asked = detect_language(text) if text else "und"
    if asked != "und":
        return asked
    user = update.effective_user
    return "ar" if user and (user.language_code or "").startswith("ar") else "en"


# What the bot says to admins.
ADMIN_TEXTS = {
    "private_only": {
        "en": "Admin commands work in a private chat with me: @{bot}",
        "ar": "أوامر الإدارة تعمل في المحادثة الخاصة معي: ‎@{bot}",
    },
    "not_admin": {
        "en": "This command is for the newsroom's admins.",
        "ar": "هذا الأمر لمشرفي غرفة الأخبار فقط.",
    },
    "add_usage": {
        "en": "To add an article: /add followed by a title line and the text; or reply /add "
        "to a message; or send a document (.txt .md .html .json .jsonl) with the caption "
        "/add; or /add https://…",
        "ar": "لإضافة مقال: ‎/add‎ ثم سطر العنوان والنص؛ أو رُدّ بـ ‎/add‎ على رسالة؛ أو أرسل "
        "ملفًا (.txt .md .html .json .jsonl) مع التعليق ‎/add‎؛ أو ‎/add https://…",
    },
    "added": {"en": "Added", "ar": "أُضيف"},
    "updated": {"en": "Updated", "ar": "حُدِّث"},
    "duplicate": {
        "en": "Already in the coverage, unchanged",
        "ar": "موجود في التغطية دون تغيير",
    },
    "paragraphs": {"en": "paragraphs", "ar": "فقرات"},
    "refused": {"en": "Not added", "ar": "لم يُضف"},
    "too_large": {
        "en": "the file is too large ({size:,} bytes; the limit is {limit:,})",
        "ar": "الملف كبير جدًا ({size:,} بايت؛ الحد {limit:,})",
    },
    "unsupported": {
        "en": "unsupported file type {suffix!r} (use .txt .md .html .json .jsonl)",
        "ar": "نوع ملف غير مدعوم {suffix!r} (استخدم ‎.txt .md .html .json .jsonl‎)",
    },
    "empty": {"en": "there is no text to add", "ar": "لا يوجد نص لإضافته"},
    "progress": {
        "en": "Adding articles: {done}/{total}…",
        "ar": "جارٍ إضافة المقالات: {done}/{total}…",
    },
    "summary": {
        "en": "{added} added, {updated} updated, {unchanged} unchanged, {failed} failed",
        "ar": "أُضيف {added}، حُدِّث {updated}، دون تغيير {unchanged}، فشل {failed}",
    },
    "no_articles": {"en": "The coverage is empty.", "ar": "التغطية فارغة."},
    "page": {
        "en": "Articles {first}–{last} of {total}",
        "ar": "المقالات {first}–{last} من {total}",
    },
    "remove_usage": {"en": "Usage: /remove ARTICLE_ID", "ar": "الاستخدام: ‎/remove معرّف_المقال"},
    "unknown_article": {"en": "No article with id {id}.", "ar": "لا يوجد مقال بالمعرّف {id}."},
    "confirm_remove": {"en": "Remove “{title}” ({id})?", "ar": "حذف «{title}» ({id})؟"},
    "yes_remove": {"en": "Remove", "ar": "احذف"},
    "cancel": {"en": "Cancel", "ar": "إلغاء"},
    "removed": {"en": "Removed {id}.", "ar": "حُذف {id}."},
    "cancelled": {"en": "Cancelled; nothing removed.", "ar": "أُلغي؛ لم يُحذف شيء."},
    "expired": {
        "en": "This button has expired; send /remove again.",
        "ar": "انتهت صلاحية هذا الزر؛ أرسل ‎/remove‎ من جديد.",
    },
    "stats": {
        "en": "Articles: {articles} ({chunks} passages) from {outlets} outlets, {span}\n"
        "Questions: {questions}, answered {share} (weak {weak}), not in the coverage {refused}"
        "\nSmall talk: {smalltalk}\nVotes: 👍 {up} · 👎 {down}",
        "ar": "المقالات: {articles} ({chunks} مقطعًا) من {outlets} مصادر، {span}\n"
        "الأسئلة: {questions}، أُجيب {share} (بإجابة ضعيفة {weak})، ليست في التغطية {refused}"
        "\nدردشة: {smalltalk}\nالتقييمات: 👍 {up} · 👎 {down}",
    },
    "no_unanswered": {
        "en": "Nothing to look at in the last 30 days: no question went unanswered, no answer"
        " was weak or voted down.",
        "ar": "لا شيء يستدعي المراجعة في آخر 30 يومًا: لا سؤال بلا إجابة، ولا إجابة ضعيفة أو"
        " مرفوضة من القرّاء.",
    },
    "unanswered_head": {
        "en": "What readers asked that the coverage did not answer well (last 30 days):",
        "ar": "ما سأل عنه القرّاء ولم تُحسن التغطية الإجابة عنه (آخر 30 يومًا):",
    },
    "why_refused": {"en": "not in the coverage", "ar": "ليس في التغطية"},
    "why_weak": {"en": "weak answer", "ar": "إجابة ضعيفة"},
    "why_disliked": {"en": "voted 👎", "ar": "قُيّمت 👎"},
}


def text(key: str, lang: str, **values: Any) -> str:
    """An admin text in ``lang`` (Arabic or, for any other, English)."""
    return ADMIN_TEXTS[key]["ar" if lang == "ar" else "en"].format(**values)
