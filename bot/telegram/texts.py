"""What the bot says to readers, in Arabic and English, and whose language a
message is in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from babel import Locale
from babel.dates import format_date, format_interval, format_skeleton
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent
from telegram import Update

from retrieval.text import detect_language

TEXTS = {
    "help": {
        "en": (
            "I answer questions about the news coverage I hold, and cite the exact paragraphs "
            "behind every answer.\n\nI know {articles}{span}{outlets}.\n\n"
            "Ask in Arabic or English. In a group, mention me, reply to me, or use /ask.\n\n"
            "You can ask about a time or an outlet:\n"
            "• What is the latest on the Yemen truce? (or /latest Yemen truce)\n"
            "• What happened in Aden on 6 August 2015?\n"
            "• What did Okaz report about the Hajj?\n"
            "• What was reported about oil prices yesterday? this week? since 3 August?\n\n"
            "To hear of new reports on a subject: /follow oil prices (/following, /unfollow).\n"
            "To share an answer in any chat: type @{bot} and your question there."
        ),
        "ar": (
            "أجيب عن الأسئلة حول التغطية الإخبارية المتاحة لدي، وأذكر الفقرات التي استندت إليها "
            "في كل إجابة.\n\nلدي {articles}{span}{outlets}.\n\n"
            "اسأل بالعربية أو بالإنجليزية. في المجموعات: اذكرني أو رُدّ على رسالتي أو استخدم /ask."
            "\n\nيمكنك السؤال عن وقت أو عن صحيفة:\n"
            "• ما آخر مستجدات الهدنة في اليمن؟ (أو /latest الهدنة في اليمن)\n"
            "• ماذا حدث في عدن يوم 6 أغسطس 2015؟\n"
            "• ماذا قالت عكاظ عن الحج؟\n"
            "• ماذا نُشر عن أسعار النفط أمس؟ هذا الأسبوع؟ منذ 3 أغسطس؟\n\n"
            "لتصلك التقارير الجديدة عن موضوع: /follow أسعار النفط (/following و/unfollow).\n"
            "لمشاركة إجابة في أي محادثة: اكتب فيها @{bot} ثم سؤالك."
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
    "follow_usage": {
        "en": "Send /follow and a subject, for example: /follow oil prices. When a new report "
        "answers it, I will send you its passage and link.",
        "ar": "أرسل /follow ثم الموضوع، مثل: /follow أسعار النفط. حين يجيب عنه تقرير جديد أرسل "
        "إليك فقرته ورابطه.",
    },
    "followed": {
        "en": "Following “{topic}”: when a new report answers it, I will send you its passage "
        "and link, at most {per_day} a day, for the next {days} days. /following lists what "
        "you follow; /unfollow stops.",
        "ar": "تتابع الآن «{topic}»: حين يجيب عنه تقرير جديد أرسل إليك فقرته ورابطه، بحد أقصى "
        "{per_day} في اليوم، طوال الأيام الـ{days} القادمة. /following يعرض ما تتابعه، "
        "و/unfollow يوقف المتابعة.",
    },
    "follow_too_many": {
        "en": "You already follow {limit} subjects here. Stop one with /unfollow first.",
        "ar": "تتابع هنا {limit} موضوعًا بالفعل. أوقف أحدها أولًا بالأمر /unfollow.",
    },
    "follow_too_long": {
        "en": "That subject is too long (over {limit} characters). Please shorten it.",
        "ar": "الموضوع طويل جدًا (أكثر من {limit} حرف). اختصره من فضلك.",
    },
    "following_none": {
        "en": "You follow no subject here. Send /follow and a subject to start.",
        "ar": "لا تتابع أي موضوع هنا. أرسل /follow ثم الموضوع لتبدأ.",
    },
    "following_head": {
        "en": "You follow (/unfollow N stops one, /unfollow all stops every one):",
        "ar": "ما تتابعه (/unfollow ثم الرقم يوقف أحدها، و/unfollow all يوقفها كلها):",
    },
    "unfollow_usage": {
        "en": "Send /unfollow and the number /following gives a subject, or /unfollow all.",
        "ar": "أرسل /unfollow ثم رقم الموضوع كما يعرضه /following، أو /unfollow all.",
    },
    "unfollowed": {"en": "Stopped following “{topic}”.", "ar": "أُوقفت متابعة «{topic}»."},
    "unfollowed_all": {
        "en": "Stopped following every subject here.",
        "ar": "أُوقفت متابعة كل المواضيع هنا.",
    },
    "follow_news": {"en": "New on “{topic}”", "ar": "جديد عن «{topic}»"},
    "follows_off": {
        "en": "Following subjects is not available here.",
        "ar": "متابعة المواضيع غير متاحة هنا.",
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
    "busy": {
        "en": "Many questions at once: answers are coming, a few a minute (Telegram's limit "
        "for a group).",
        "ar": "أسئلة كثيرة في وقت واحد: الإجابات في الطريق، بضع إجابات في الدقيقة (حدّ "
        "تيليجرام للمجموعات).",
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
    "vote_failed": {
        "en": "Your rating could not be saved just now. Please try again later.",
        "ar": "تعذّر حفظ تقييمك الآن. حاول مرة أخرى لاحقًا.",
    },
    "unavailable": {
        "en": "The coverage is temporarily unavailable. Please ask again in a minute.",
        "ar": "التغطية غير متاحة مؤقتًا. اسأل مرة أخرى بعد دقيقة.",
    },
    "error": {
        "en": "Something went wrong while answering. Please try again in a moment.",
        "ar": "حدث خطأ أثناء الإجابة. حاول مرة أخرى بعد قليل.",
    },
    # inline mode (@bot QUESTION in any chat): the hint, and the titles of the results
    "inline_hint": {
        "en": "Type a question about the news, in Arabic or English",
        "ar": "اكتب سؤالًا عن الأخبار، بالعربية أو بالإنجليزية",
    },
    "inline_answer": {"en": "Send the answer with its sources", "ar": "أرسل الإجابة مع مصادرها"},
    "inline_reply": {"en": "Send this reply", "ar": "أرسل هذا الرد"},
    "inline_not_covered": {
        "en": "Not in the coverage",
        "ar": "ليس في التغطية",
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
        "en": "To add an article: /add followed by a title line and the text (one line is "
        "enough for a short item); or reply /add to a message; or send a document (.txt .md "
        ".html .json .jsonl, or a .zip of those) with the caption /add; or /add https://…",
        "ar": "لإضافة مقال: ‎/add‎ ثم سطر العنوان والنص (يكفي سطر واحد للخبر القصير)؛ أو رُدّ "
        "بـ ‎/add‎ على رسالة؛ أو أرسل ملفًا (‎.txt .md .html .json .jsonl‎ أو ملف ‎.zip‎ "
        "يضمها) مع التعليق ‎/add‎؛ أو ‎/add https://…",
    },
    "added": {"en": "Added", "ar": "أُضيف"},
    "updated": {"en": "Updated", "ar": "حُدِّث"},
    "duplicate": {
        "en": "Already in the coverage, unchanged",
        "ar": "موجود في التغطية دون تغيير",
    },
    "refused": {"en": "Not added", "ar": "لم يُضف"},
    "too_large": {
        "en": "the file is too large ({size} bytes; the limit is {limit})",
        "ar": "الملف كبير جدًا ({size} بايت؛ الحد {limit})",
    },
    "unsupported": {
        "en": "unsupported file type {suffix} (use .txt .md .html .json .jsonl or .zip)",
        "ar": "نوع ملف غير مدعوم {suffix} (استخدم ‎.txt .md .html .json .jsonl‎ أو ‎.zip‎)",
    },
    "no_document": {
        "en": "the file could not be downloaded from Telegram; please send it again",
        "ar": "تعذّر تنزيل الملف من تيليجرام؛ أرسله مرة أخرى من فضلك",
    },
    "url_text_kept": {
        "en": "The page could not be fetched ({why}), so the words you sent were added with "
        "its link.",
        "ar": "تعذّر جلب الصفحة ({why})، فأُضيف النص الذي أرسلته مع رابطها.",
    },
    "empty": {"en": "there is no text to add", "ar": "لا يوجد نص لإضافته"},
    "reading": {"en": "Reading {name}…", "ar": "جارٍ قراءة {name}…"},
    "progress": {
        "en": "Adding articles: {done} of {total}… ({seconds} s)",
        "ar": "جارٍ إضافة المقالات: {done} من {total}… ({seconds} ث)",
    },
    "summary": {
        "en": "{added} added, {updated} updated, {unchanged} unchanged, {failed} not added",
        "ar": "أُضيف {added}، وحُدِّث {updated}، ودون تغيير {unchanged}، ولم يُضف {failed}",
    },
    "more": {"en": "…and {n} more", "ar": "…و{n} غيرها"},
    "store_full": {
        "en": "Stopped: the server's disk is full. What is listed above was added whole; ask "
        "the person who runs the bot to free some space, then send the same again.",
        "ar": "توقفت الإضافة: قرص الخادم ممتلئ. ما ورد أعلاه أُضيف كاملًا؛ اطلب ممن يدير "
        "البوت إفراغ بعض المساحة، ثم أرسل الشيء نفسه مرة أخرى.",
    },
    "store_read_only": {
        "en": "Stopped: the store is read-only (the server's disk refuses writes), so nothing "
        "can be added or removed for now; readers are still answered. Ask the person who runs "
        "the bot to check the disk, then send the same again.",
        "ar": "توقفت العملية: المخزن للقراءة فقط (قرص الخادم يرفض الكتابة)، فلا يمكن إضافة شيء "
        "أو حذفه الآن، ولا يزال القرّاء يتلقّون الإجابات. اطلب ممن يدير البوت فحص القرص، ثم أرسل "
        "الشيء نفسه مرة أخرى.",
    },
    "store_unavailable": {
        "en": "Stopped: the store's server cannot be reached. What is listed above was added "
        "whole; send the same again in a few minutes: nothing is added twice.",
        "ar": "توقفت الإضافة: تعذّر الوصول إلى خادم المخزن. ما ورد أعلاه أُضيف كاملًا؛ أرسل "
        "الشيء نفسه مرة أخرى بعد دقائق، ولن يُضاف شيء مرتين.",
    },
    "from_outlets": {"en": " from {outlets}", "ar": " من {outlets}"},
    "channel_head": {
        "en": "From the channel {channel}:",
        "ar": "من القناة {channel}:",
    },
    "no_articles": {"en": "The coverage is empty.", "ar": "التغطية فارغة."},
    "page": {
        "en": "Articles {first}–{last} of {total}",
        "ar": "المقالات {first}–{last} من {total}",
    },
    "found": {
        "en": "Search for “{words}”: {hits}, newest first",
        "ar": "نتائج البحث عن «{words}»: {hits}، الأحدث أولًا",
    },
    "found_none": {
        "en": "No article title or id contains “{words}”.",
        "ar": "لا يوجد مقال يحتوي عنوانه أو معرّفه على «{words}».",
    },
    "remove_usage": {"en": "Usage: /remove ARTICLE_ID", "ar": "الاستخدام: ‎/remove معرّف_المقال"},
    "unknown_article": {"en": "No article with id {id}.", "ar": "لا يوجد مقال بالمعرّف {id}."},
    "confirm_remove": {"en": "Remove “{title}” ({id})?", "ar": "حذف «{title}» ({id})؟"},
    "yes_remove": {"en": "Remove", "ar": "احذف"},
    "remove_n": {"en": "🗑 {n}", "ar": "🗑 {n}"},
    "cancel": {"en": "Cancel", "ar": "إلغاء"},
    "removed": {"en": "Removed {id}.", "ar": "حُذف {id}."},
    "already_removed": {
        "en": "{id} is already removed.",
        "ar": "المقال {id} محذوف من قبل.",
    },
    "cancelled": {"en": "Cancelled; nothing removed.", "ar": "أُلغي؛ لم يُحذف شيء."},
    "expired": {
        "en": "This button has expired; send /remove again.",
        "ar": "انتهت صلاحية هذا الزر؛ أرسل ‎/remove‎ من جديد.",
    },
    "stats": {
        "en": "Coverage: {articles} ({chunks}){outlets}, {span}\n"
        "Questions: {questions}, answered {share} (weak {weak}), not in the coverage {refused}"
        "\nSmall talk: {smalltalk}\nVotes: 👍 {up} · 👎 {down}",
        "ar": "التغطية: {articles} ({chunks}){outlets}، {span}\n"
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
    # the daily digest: the admins' /digest, and the digest itself (in the channel's language)
    "digest_usage": {
        "en": "Usage: /digest @channel HH:MM (or a chat id; add ar or en for the digest's "
        "language, Arabic by default); /digest to see the setting; /digest off to stop it.",
        "ar": "الاستخدام: ‎/digest @channel HH:MM‎ (أو معرّف المحادثة؛ وأضف ar أو en للغة "
        "النشرة، والعربية افتراضيًا)؛ ‎/digest‎ لعرض الإعداد؛ ‎/digest off‎ لإيقافها.",
    },
    "digest_none": {
        "en": "No daily digest is set. Send /digest @channel HH:MM to post the day's main "
        "stories there every day.",
        "ar": "لا توجد نشرة يومية. أرسل ‎/digest @channel HH:MM‎ لنشر أبرز أخبار اليوم هناك كل يوم.",
    },
    "digest_set": {
        "en": "The daily digest goes to {chat} every day at {at} ({timezone}), in {language}.",
        "ar": "تُنشر النشرة اليومية في {chat} كل يوم الساعة {at} ({timezone})، {language}.",
    },
    "language_ar": {"en": "Arabic", "ar": "بالعربية"},
    "language_en": {"en": "English", "ar": "بالإنجليزية"},
    "digest_last": {"en": "Last posted for {day}.", "ar": "آخر نشرة: {day}."},
    "digest_off": {"en": "The daily digest is off.", "ar": "أُوقفت النشرة اليومية."},
    "digest_unavailable": {
        "en": "The daily digest is not running in this bot.",
        "ar": "النشرة اليومية لا تعمل في هذا البوت.",
    },
    "digest_no_chat": {
        "en": "I cannot reach {chat} ({why}). Check the name, add me to the chat as an admin "
        "who may post, then send /digest again.",
        "ar": "تعذّر الوصول إلى {chat} ({why}). تحقّق من الاسم، وأضفني إلى المحادثة مشرفًا يحق "
        "له النشر، ثم أرسل ‎/digest‎ مرة أخرى.",
    },
    "digest_unreachable": {
        "en": "Today's digest could not be posted to {chat} ({why}). Add me to the chat as an "
        "admin who may post, or set another chat with /digest; I will try again tomorrow.",
        "ar": "تعذّر نشر نشرة اليوم في {chat} ({why}). أضفني إلى المحادثة مشرفًا يحق له النشر، "
        "أو اختر محادثة أخرى بـ ‎/digest‎؛ سأحاول مجددًا غدًا.",
    },
    "digest_refused": {
        "en": "Telegram refused today's digest for {chat}; the log has the details. I will "
        "try again tomorrow.",
        "ar": "رفض تيليجرام نشرة اليوم لـ {chat}؛ التفاصيل في السجل. سأحاول مجددًا غدًا.",
    },
    "digest_partial": {
        "en": "Today's digest went to {chat} only in part: part {part} of {parts} could not be "
        "sent. The rest is not sent later, so that nothing is posted twice; tomorrow's digest "
        "comes as usual.",
        "ar": "لم تصل نشرة اليوم إلى {chat} إلا ناقصة: تعذّر إرسال الجزء {part} من {parts}. "
        "لن يُرسل الباقي لاحقًا كي لا يُنشر شيء مرتين، وتأتي نشرة الغد كالمعتاد.",
    },
    # why Telegram would not let the bot reach or post to a chat
    "chat_not_found": {"en": "chat not found", "ar": "لم أجد المحادثة"},
    "chat_not_member": {"en": "I am not a member of it", "ar": "لستُ عضوًا فيها"},
    "chat_no_rights": {"en": "I may not post there", "ar": "لا يحق لي النشر فيها"},
    "chat_refused": {"en": "Telegram refused", "ar": "رفض تيليجرام الطلب"},
    "digest_failed": {
        "en": "Today's digest for {chat} could not be made; the log has the details. I will "
        "try again tomorrow.",
        "ar": "تعذّر إعداد نشرة اليوم لـ {chat}؛ التفاصيل في السجل. سأحاول مجددًا غدًا.",
    },
    "digest_head": {
        "en": "The main stories of {day} (from {articles})",
        "ar": "أبرز أخبار {day} (من {articles})",
    },
    "digest_quote": {"en": "— {outlet}", "ar": "— {outlet}"},
    "digest_outlets": {"en": "{outlets}: {names}", "ar": "{outlets}: {names}"},
    # the /stats chart
    "chart_title": {"en": "Last {days} days (UTC)", "ar": "آخر {days} يومًا (بتوقيت UTC)"},
    "chart_questions": {"en": "questions", "ar": "الأسئلة"},
    "chart_answered": {"en": "answered", "ar": "نسبة الإجابة"},
    "chart_added": {"en": "articles added", "ar": "المقالات المضافة"},
    # feeds
    "feed_usage": {
        "en": "/feed add URL follows an RSS or Atom feed or an XML sitemap: its new and "
        "changed articles are added as they come. /feed remove URL (or its number in /feeds) "
        "stops following it. /feeds lists them.",
        "ar": "‎/feed add‎ ورابط: متابعة موجز RSS أو Atom أو خريطة موقع XML، فتُضاف مقالاته "
        "الجديدة والمعدّلة أولًا بأول. ‎/feed remove‎ والرابط (أو رقمه في ‎/feeds‎): إيقاف "
        "متابعته. ‎/feeds‎: قائمتها.",
    },
    "feed_added": {
        "en": "Following {title} ({kind}, {items} listed now). Its articles are being added; "
        "I will say how it went.",
        "ar": "أتابع الآن {title} ({kind}، فيه {items} الآن). تجري إضافة مقالاته، "
        "وسأخبرك بالنتيجة.",
    },
    "feed_known": {
        "en": "Already following {title} (number {n} in /feeds).",
        "ar": "أتابع {title} من قبل (رقمه {n} في ‎/feeds‎).",
    },
    "feed_not_added": {"en": "Not followed", "ar": "لم تُضف المتابعة"},
    "feed_first_poll": {"en": "{title}: {summary}", "ar": "{title}: {summary}"},
    "feed_poll_skipped": {
        "en": "{title}: another poll of the feeds is under way (rawi feeds poll); its "
        "articles come with the next poll.",
        "ar": "{title}: تجري الآن قراءة أخرى للموجزات (‎rawi feeds poll‎)؛ تأتي مقالاته مع "
        "القراءة التالية.",
    },
    "feed_removed": {
        "en": "No longer following {title}. The articles it gave stay in the coverage "
        "(/remove takes one out).",
        "ar": "أوقفت متابعة {title}. تبقى المقالات التي جاءت منه في التغطية (‎/remove‎ يحذف "
        "أيًّا منها).",
    },
    "feed_unknown": {
        "en": "No feed {which}: see /feeds for their addresses and numbers.",
        "ar": "لا يوجد موجز {which}: انظر ‎/feeds‎ لعناوينها وأرقامها.",
    },
    "no_feeds": {
        "en": "No feeds followed. /feed add URL follows one.",
        "ar": "لا أتابع أي موجز. ‎/feed add‎ ورابط لمتابعة موجز.",
    },
    "feeds_head": {"en": "Feeds followed:", "ar": "الموجزات المتابَعة:"},
    "feed_line": {
        "en": "{items} · last read {when}",
        "ar": "{items} · آخر قراءة {when}",
    },
    "feed_never": {"en": "not read yet", "ar": "لم يُقرأ بعد"},
    "feed_failing_since": {
        "en": "failing since {when}: {why}",
        "ar": "يتعذّر منذ {when}: {why}",
    },
    "feed_failing": {
        "en": "The feed {title} cannot be read: {why}. I keep what it gave and its last good "
        "state, and try again at every poll; I will say when it works again.",
        "ar": "تعذّرت قراءة الموجز {title}: {why}. أحتفظ بما جاء منه وبآخر حالة سليمة له، "
        "وأعيد المحاولة في كل مرة؛ وسأخبرك حين يعود.",
    },
    "feed_recovered": {
        "en": "The feed {title} can be read again.",
        "ar": "عاد الموجز {title} يُقرأ من جديد.",
    },
}


def text(key: str, lang: str, **values: Any) -> str:
    """An admin text in ``lang`` (Arabic or, for any other, English)."""
    return ADMIN_TEXTS[key]["ar" if lang == "ar" else "en"].format(**values)


# -- numbers, counts, dates and lists as each language writes them (CLDR, by Babel) --

# Arabic nouns take a form by CLDR plural category: 0, 1, 2, 3–10, 11–99, 100…
NOUNS: dict[str, dict[str, dict[str, str]]] = {
    "article": {
        "en": {"one": "{n} article", "other": "{n} articles"},
        "ar": {"zero": "لا مقالات", "one": "مقال واحد", "two": "مقالان", "few": "{n} مقالات",
               "many": "{n} مقالًا", "other": "{n} مقال"},
    },
    "paragraph": {
        "en": {"one": "{n} paragraph", "other": "{n} paragraphs"},
        "ar": {"zero": "لا فقرات", "one": "فقرة واحدة", "two": "فقرتان", "few": "{n} فقرات",
               "many": "{n} فقرة", "other": "{n} فقرة"},
    },
    "passage": {
        "en": {"one": "{n} passage", "other": "{n} passages"},
        "ar": {"zero": "لا مقاطع", "one": "مقطع واحد", "two": "مقطعان", "few": "{n} مقاطع",
               "many": "{n} مقطعًا", "other": "{n} مقطع"},
    },
    "outlet": {
        "en": {"one": "{n} outlet", "other": "{n} outlets"},
        "ar": {"zero": "لا مصادر", "one": "مصدر واحد", "two": "مصدرين", "few": "{n} مصادر",
               "many": "{n} مصدرًا", "other": "{n} مصدر"},
    },
    # the outlets as a sentence's subject ("مصدران: عكاظ والرياض"); after a preposition
    # the dual is "مصدرين", as "outlet" has it
    "outlet_subject": {
        "en": {"one": "{n} outlet", "other": "{n} outlets"},
        "ar": {"zero": "لا مصادر", "one": "مصدر واحد", "two": "مصدران", "few": "{n} مصادر",
               "many": "{n} مصدرًا", "other": "{n} مصدر"},
    },
    "item": {
        "en": {"one": "{n} item", "other": "{n} items"},
        "ar": {"zero": "لا عناصر", "one": "عنصر واحد", "two": "عنصران", "few": "{n} عناصر",
               "many": "{n} عنصرًا", "other": "{n} عنصر"},
    },
}  # fmt: skip


def _locale(lang: str) -> str:
    return "ar" if lang == "ar" else "en"


def number(n: int, lang: str) -> str:
    return format_decimal(n, locale=_locale(lang))


def percent(share: float, lang: str) -> str:
    return format_percent(share, locale=_locale(lang))


def count(n: int, noun: str, lang: str) -> str:
    """``n`` with ``noun`` in the form ``lang`` gives that number ("11 مقالًا")."""
    forms = NOUNS[noun][_locale(lang)]
    form = Locale(_locale(lang)).plural_form(n)
    return forms.get(form, forms["other"]).format(n=number(n, lang))


def day(iso: str, lang: str) -> str:
    """An ISO date (or datetime) as ``lang`` writes a day: "23 يوليو 2015", "July 23, 2015"."""
    return format_date(date.fromisoformat(iso[:10]), "long", locale=_locale(lang))


def day_month(iso: str, lang: str) -> str:
    """A day without its year, for a chart's axis: "23 يوليو", "Jul 23"."""
    return format_skeleton("MMMd", date.fromisoformat(iso[:10]), locale=_locale(lang))


def day_span(first: str, last: str, lang: str) -> str:
    """Two ISO dates as one range, collapsed where they share a month or a day."""
    start, end = date.fromisoformat(first[:10]), date.fromisoformat(last[:10])
    return format_interval(start, end, "yMMMd", locale=_locale(lang))


def listing(items: Iterable[str], lang: str) -> str:
    """A list as ``lang`` writes one: "Okaz, Riyadh, and Alyaum", "عكاظ والرياض واليوم"."""
    listed = [i for i in items if i]
    return format_list(listed, locale=_locale(lang)) if listed else ""
