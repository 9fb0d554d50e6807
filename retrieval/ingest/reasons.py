"""Why an item was not added, in English and Arabic.

A :class:`Reason` is a string (its English text, what logs, the CLI and JSON
show) that also knows its code and details, so the bot can say it in an admin's
language. Every reason ingestion gives is in :data:`REASONS`.
"""

from __future__ import annotations

from typing import Any

REASONS: dict[str, tuple[str, str]] = {
    # code: (English, Arabic)
    "no_text": ("no text", "لا يوجد نص"),
    "no_text_field": (
        "no text (expected a 'text' or 'content' field)",
        "لا يوجد نص (يُنتظر حقل ‎'text'‎ أو ‎'content'‎)",
    ),
    "not_object": ("expected an object, got {kind}", "يُنتظر كائن JSON، لا {kind}"),
    "empty_file": ("empty file", "الملف فارغ"),
    "no_main_text": ("no main text found in the HTML", "لم أجد نصًا رئيسيًا في صفحة HTML"),
    "not_utf8": ("not UTF-8 text ({why} at byte {at})", "ليس نصًا بترميز UTF-8 (عند البايت {at})"),
    "invalid_json": ("invalid JSON: {why} (line {line})", "JSON غير صالح (السطر {line})"),
    "empty_array": ("empty JSON array", "مصفوفة JSON فارغة"),
    "bad_zip": ("not a readable zip archive ({why})", "أرشيف zip غير مقروء ({why})"),
    "bad_member": ("damaged archive member ({why})", "ملف تالف داخل الأرشيف ({why})"),
    "unsupported_type": ("unsupported file type {suffix}", "نوع ملف غير مدعوم {suffix}"),
    "no_such_path": ("no such file or folder", "لا يوجد ملف أو مجلد بهذا الاسم"),
    "cannot_read": ("cannot read: {why}", "تعذّرت القراءة: {why}"),
    "unreadable": ("unreadable", "غير مقروء"),
    "chunking_failed": ("chunking failed: {why}", "تعذّر تقسيم النص: {why}"),
    "store_failed": ("store write failed: {why}", "تعذّرت الكتابة في المخزن: {why}"),
    # the store's trouble, as an admin is told it (the exception is in the log)
    "store_unreachable": ("the store's server cannot be reached", "تعذّر الوصول إلى خادم المخزن"),
    "store_read_only": (
        "the store refuses writes (read-only)",
        "المخزن يرفض الكتابة (للقراءة فقط)",
    ),
    "store_full": ("the server's disk is full", "قرص الخادم ممتلئ"),
    "store_trouble": (
        "the store could not be written to (the log has the details)",
        "تعذّرت الكتابة في المخزن (التفاصيل في السجل)",
    ),
    # fetching a URL
    "only_http": (
        "only http and https addresses can be added (got {url})",
        "لا يُضاف إلا عنوان http أو https (وصلني {url})",
    ),
    "no_host": ("no host in {url}", "لا يوجد اسم موقع في {url}"),
    "bad_url": ("{url} is not a valid address", "العنوان {url} غير صالح"),
    "credentials": (
        "a link with a user name or password is not added (to {host}); send it without them",
        "لا يُضاف رابط يحمل اسم مستخدم أو كلمة مرور (إلى {host})؛ أرسله دونهما",
    ),
    "cannot_resolve": (
        "cannot resolve {host} (no such site, or no network)",
        "تعذّر العثور على الموقع {host} (اسم غير موجود أو لا اتصال بالشبكة)",
    ),
    "private_address": (
        "{host} resolves to a non-public address ({addresses}); refused",
        "الموقع {host} يشير إلى عنوان داخلي غير عام ({addresses})؛ رُفض",
    ),
    "redirects_nowhere": ("{url} redirects nowhere", "الرابط {url} يحيل إلى لا شيء"),
    "bad_redirect": (
        "{url} redirects to an address that cannot be fetched",
        "الرابط {url} يحيل إلى عنوان لا يمكن جلبه",
    ),
    "http_status": ("{url} answered HTTP {status}", "الرابط {url} أجاب بالرمز HTTP {status}"),
    "not_a_page": ("{url} is {kind}, not a page", "الرابط {url} ليس صفحة بل {kind}"),
    "page_too_large": (
        "{url} is too large (over {limit:,} bytes)",
        "الصفحة {url} كبيرة جدًا (أكثر من {limit:,} بايت)",
    ),
    "bad_encoding": (
        "{url} is sent compressed in a way that cannot be read ({encoding})",
        "الرابط {url} مرسَل مضغوطًا بطريقة لا تُقرأ ({encoding})",
    ),
    "timeout": (
        "{url} did not answer within {seconds:g} s",
        "الرابط {url} لم يُجب خلال {seconds:g} ثانية",
    ),
    "unreachable": ("{url} is unreachable ({why})", "تعذّر الوصول إلى {url} ({why})"),
    "too_many_redirects": (
        "too many redirects (more than {limit})",
        "إحالات كثيرة جدًا (أكثر من {limit})",
    ),
    # feeds
    "not_a_feed": (
        "{url} is not an RSS or Atom feed or a sitemap",
        "الرابط {url} ليس موجز RSS أو Atom ولا خريطة موقع",
    ),
    "sitemap_index": (
        "{url} is a sitemap index; add one of the sitemaps it lists",
        "الرابط {url} فهرس لخرائط الموقع؛ أضف إحدى الخرائط التي يذكرها",
    ),
}


class Reason(str):
    """A reason's English text, with its ``code`` and ``details`` to say it in Arabic."""

    code: str
    details: dict[str, Any]

    def __new__(cls, code: str, **details: Any) -> Reason:
        self = super().__new__(cls, REASONS[code][0].format(**details))
        self.code, self.details = code, details
        return self

    def say(self, lang: str) -> str:
        return REASONS[self.code][1 if lang == "ar" else 0].format(**self.details)


def say(reason: str, lang: str) -> str:
    """A reason in ``lang`` where it is a :class:`Reason`; other text as it is."""
    return reason.say(lang) if isinstance(reason, Reason) else reason
