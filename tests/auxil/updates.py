"""Hostile Telegram updates, drawn by hypothesis: what a bot in public chats gets.

Every update has Telegram's shape (the fields and their types), so python-telegram-bot
parses it; the content is hostile: lone surrogates, bidi controls, texts past
Telegram's length, entities that point past the text, captions on every kind of
media, edits, channel posts, messages with no sender, callback queries with garbage
or no data, commands addressed to other bots.

:func:`draw` returns a list of updates for the fake Bot API to hand out; each private
message is in a chat of its own, so that whether it was answered is plain to see
(:func:`expects_reply`).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.auxil.fakebotapi import BOT

ADMIN_ID = 500
GROUPS = (-100111, -100222, -100333)
CHANNEL = -1009999

WORDS = [
    "متى",
    "تفتح",
    "المكتبة",
    "الجديدة",
    "الوزير",
    "غزة",
    "مستشفى",
    "ما",
    "؟",
    "when",
    "does",
    "the",
    "library",
    "open",
    "minister",
    "said",
    "what",
    "?",
    "🙂",
    "123",
]
ODD = [
    "\ud83d",
    "\udc00",
    "\u202e",
    "\u200f",
    "\u200b",
    "\ufeff",
    "\x00",
    "\u0640",
    "<b>",
    "</a>",
    "&amp;",
    "[K1]",
    "\n",
    "@rawi_test_bot",
    "@other_bot",
    "https://example.org/x",
]
COMMANDS = [
    "/start",
    "/help",
    "/ask",
    "/ask@rawi_test_bot",
    "/ask@other_bot",
    "/latest",
    "/follow",
    "/following",
    "/unfollow",
    "/add",
    "/articles",
    "/remove",
    "/stats",
    "/unanswered",
    "/nope",
    "/",
]
ENTITY_TYPES = [
    "bot_command",
    "mention",
    "url",
    "text_link",
    "bold",
    "italic",
    "code",
    "pre",
    "hashtag",
    "text_mention",
    "custom_emoji",
    "spoiler",
    "blockquote",
    "no_such_type",
]

text = st.one_of(
    st.lists(st.sampled_from(WORDS + ODD), max_size=30).map(" ".join),
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
    | st.text(alphabet=st.characters(categories=["Cs", "Cf", "Mn"]), max_size=20),
    st.builds(lambda c, rest: f"{c} {rest}", st.sampled_from(COMMANDS), st.text(max_size=80)),
    st.integers(4000, 9000).map(lambda n: "س" * n),  # past Telegram's 4,096
    st.just(""),
)


@st.composite
def entities(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(ENTITY_TYPES))
        entity: dict[str, Any] = {
            "type": kind,
            "offset": draw(st.integers(-5, 5000)),  # past the text, or before it
            "length": draw(st.integers(0, 5000)),
        }
        if kind == "text_link":
            entity["url"] = draw(st.sampled_from(["https://example.org", "javascript:x", ""]))
        if kind == "text_mention":
            entity["user"] = {
                "id": draw(st.integers(1, 10**9)),
                "is_bot": False,
                "first_name": draw(st.text(max_size=10)),
            }
        if kind == "custom_emoji":
            entity["custom_emoji_id"] = draw(st.text(max_size=10))
        out.append(entity)
    return out


def _user(draw: st.DrawFn, user_id: int) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": draw(st.booleans()),
        "first_name": draw(st.text(max_size=12)),
    }
    language = draw(st.sampled_from([None, "ar", "en", "ar-SA", "fr", "", "zz-ZZ"]))
    if language is not None:
        user["language_code"] = language
    return user


MEDIA = {
    "photo": lambda: [{"file_id": "ph", "file_unique_id": "uph", "width": 9, "height": 9}],
    "document": lambda: {
        "file_id": "no-such-file",
        "file_unique_id": "ud",
        "file_name": "notes.txt",
        "file_size": 10,
    },
    "sticker": lambda: {
        "file_id": "st",
        "file_unique_id": "ust",
        "type": "regular",
        "width": 9,
        "height": 9,
        "is_animated": False,
        "is_video": False,
    },
    "location": lambda: {"latitude": 24.7, "longitude": 46.7},
    "voice": lambda: {"file_id": "vo", "file_unique_id": "uvo", "duration": 2},
    "contact": lambda: {"phone_number": "+966500000000", "first_name": "X"},
}


@st.composite
def message(draw: st.DrawFn, chat: dict[str, Any], edited: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": draw(st.integers(1, 10**6)),
        "date": int(time.time()),
        "chat": chat,
    }
    if chat["type"] != "channel" and draw(st.integers(0, 9)) > 0:  # sometimes no sender
        from_admin = chat["type"] == "private" and draw(st.integers(0, 49)) == 0
        body["from"] = _user(draw, ADMIN_ID if from_admin else draw(st.integers(1, 10**9)))
    elif chat["type"] != "private":
        body["sender_chat"] = {"id": chat["id"], "type": "channel", "title": "As a channel"}
    words = draw(text)
    kind = draw(st.sampled_from([None, None, None, *MEDIA]))
    if kind is None:
        body["text"] = words
        if draw(st.booleans()):
            body["entities"] = draw(entities())
    else:
        body[kind] = MEDIA[kind]()
        if kind in ("photo", "document", "voice") and draw(st.booleans()):
            body["caption"] = words
            if draw(st.booleans()):
                body["caption_entities"] = draw(entities())
    if draw(st.integers(0, 4)) == 0:
        to_bot = draw(st.booleans())
        body["reply_to_message"] = {
            "message_id": draw(st.integers(1, 10**6)),
            "date": int(time.time()),
            "chat": chat,
            "from": BOT if to_bot else {"id": 9, "is_bot": False, "first_name": "Other"},
            "text": draw(st.text(max_size=50)),
        }
    if edited:
        body["edit_date"] = int(time.time())
    return body


@st.composite
def update(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            ["private"] * 5
            + [
                "edited_private",
                "group",
                "group",
                "channel_post",
                "edited_channel_post",
                "callback_query",
                "inline_query",
            ]
        )
    )
    if kind in ("private", "edited_private"):
        chat = {"id": 0, "type": "private", "first_name": "Reader"}  # its id is set in draw()
        key = "message" if kind == "private" else "edited_message"
        return {key: draw(message(chat, edited=key == "edited_message"))}
    if kind == "group":
        chat = {"id": draw(st.sampled_from(GROUPS)), "type": "supergroup", "title": "Newsroom"}
        edited = draw(st.integers(0, 5)) == 0
        return {"edited_message" if edited else "message": draw(message(chat, edited))}
    if kind in ("channel_post", "edited_channel_post"):
        chat = {
            "id": CHANNEL,
            "type": "channel",
            "title": "Newsroom Channel",
            "username": draw(st.sampled_from(["newsroom", "elsewhere"])),
        }
        return {kind: draw(message(chat, edited=kind == "edited_channel_post"))}
    if kind == "inline_query":  # @bot QUESTION typed in any chat
        inline: dict[str, Any] = {
            "id": str(draw(st.integers(1, 10**12))),
            "from": _user(draw, draw(st.integers(1, 10**9))),
            "query": draw(text),
            "offset": draw(st.sampled_from(["", "", "1", "x" * 70])),
        }
        if draw(st.booleans()):
            inline["chat_type"] = draw(st.sampled_from(["sender", "private", "group", "channel"]))
        return {"inline_query": inline}
    query: dict[str, Any] = {
        "id": str(draw(st.integers(1, 10**9))),
        "from": _user(draw, draw(st.sampled_from([ADMIN_ID, 7, 8]))),
        "chat_instance": "1",
    }
    data = draw(
        st.one_of(
            st.none(),
            st.text(max_size=64),
            st.sampled_from(
                [
                    "v+0000000001",
                    "v-9999999999",
                    "ap000001",
                    "rm0123abcd",
                    "rq0123abcd",
                    "rc0123abcd",
                ]
            ),
        )
    )
    if data is not None:
        query["data"] = data
    shape = draw(st.sampled_from(["message", "inaccessible", "inline"]))
    if shape == "message":
        query["message"] = {
            "message_id": draw(st.integers(1, 10**6)),
            "date": int(time.time()),
            "chat": {"id": 7, "type": "private"},
            "from": BOT,
            "text": "…",
        }
    elif shape == "inaccessible":  # too old for the bot to see: Telegram sends date 0
        query["message"] = {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}}
    else:
        query["inline_message_id"] = "abc"
    return {"callback_query": query}


def draw(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` updates, the same for the same ``seed``. Each private message is in a
    chat of its own (its id above 10**10, as no real reader's is)."""
    drawn: list[dict[str, Any]] = []

    @hypothesis.seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(update())
    def collect(one: dict[str, Any]) -> None:
        drawn.append(one)

    collect()
    ids = itertools.count(10**10 + seed * n)
    for one in drawn:
        body = one.get("message") or one.get("edited_message")
        if body is not None and body["chat"]["type"] == "private":
            chat_id = next(ids)
            body["chat"] = {**body["chat"], "id": chat_id}
            if "reply_to_message" in body:
                body["reply_to_message"]["chat"] = body["chat"]
    return drawn[:n]


def expects_reply(one: dict[str, Any]) -> bool:
    """A private message a reader would expect an answer to: any new message, and an
    edited one that still has words."""
    if "message" in one:
        return bool(one["message"]["chat"]["type"] == "private")
    body = one.get("edited_message")
    return (
        body is not None
        and body["chat"]["type"] == "private"
        and bool(body.get("text") or body.get("caption"))
    )


def private_chat(one: dict[str, Any]) -> int:
    return int((one.get("message") or one["edited_message"])["chat"]["id"])


def describe(one: dict[str, Any]) -> str:
    """One line saying what a message update holds, for a failure message."""
    kind = next(k for k in one if k != "update_id")
    body = one[kind]
    held = [k for k in body if k in MEDIA or k in ("text", "caption", "from", "reply_to_message")]
    words = body.get("text") or body.get("caption") or ""
    return f"{kind}: {held} {words[:60]!r}"
