"""A local fake of the Telegram Bot API, for running the real bot over HTTP.

It serves what the bot uses, records every call, and behaves like Telegram where
it matters: it rejects texts over 4,096 characters and HTML it cannot parse
("can't parse entities"), in messages and in the messages inline results send,
keeps the messages the bot sent so that an edit or a deletion of one it never
sent fails, and an edit that changes nothing is "not modified"; an inline query
is answered once, or the answer is refused as Telegram refuses a late one; a
group upgraded to a supergroup refuses what is sent to its old id, naming the
new one; and it can be told to fail a method (429 with ``retry_after``, say) or a
file's download.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

BOT = {"id": 4242, "is_bot": True, "first_name": "Rawi", "username": "rawi_test_bot"}
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                 "blockquote", "tg-spoiler", "span", "tg-emoji"}  # fmt: skip


class _Entities(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in TELEGRAM_TAGS:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = self.error or f'unexpected end tag "{tag}"'


def parse_error(text: str) -> str | None:
    if "<" in text.replace("&lt;", ""):
        # a "<" that does not open a tag Telegram knows
        p = _Entities()
        p.feed(text)
        p.close()
        if p.error:
            return p.error
        if p.stack:
            return f'can\'t find end tag corresponding to start tag "{p.stack[-1]}"'
        if p.rawdata:
            return "unclosed tag"
    return None


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    result: Any = None  # what the fake answered, when it succeeded


class FakeBotAPI:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        # method -> the next calls' errors (None: that call goes through)
        self.fail_next: dict[str, list[tuple[int, dict[str, Any]] | None]] = {}
        self.served: dict[int, float] = {}  # update id -> when getUpdates handed it out
        self.files: dict[str, bytes] = {}  # file id -> content, for getFile and downloads
        self.downloads: list[str] = []
        self.pathless: set[str] = set()  # file ids getFile gives no path for
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, id) -> what the bot sent
        self.inline_queries: dict[str, dict[str, Any]] = {}  # id -> the query pushed
        self.inline_answered: set[str] = set()
        self.chats: dict[str, dict[str, Any]] = {}  # "@username" or "id" -> what getChat gives
        self.migrated: dict[str, int] = {}  # a group's old id -> its supergroup's id
        self.runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # -- driving -------------------------------------------------------------
    def push_message(
        self,
        text: str,
        *,
        chat_id: int = 1001,
        chat_type: str = "private",
        user_id: int = 7,
        language: str = "en",
        entities: list[dict[str, Any]] | None = None,
        reply_to: dict[str, Any] | None = None,
        media: dict[str, Any] | None = None,
        edit_of: int | None = None,
    ) -> int:
        """A reader's message. With ``media`` (e.g. ``{"photo": [...]}``) ``text`` is
        its caption; with ``edit_of``, it is that message edited."""
        message: dict[str, Any] = {
            "message_id": next(self._ids) if edit_of is None else edit_of,
            "date": int(time.time()),
            "chat": {
                "id": chat_id,
                "type": chat_type,
                **({"title": "Newsroom"} if chat_type != "private" else {}),
            },
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": "Reader",
                "language_code": language,
            },
        }
        if media is None:
            message["text"] = text
        else:
            message.update(media)
            if text:
                message["caption"] = text
        if entities:
            message["entities" if media is None else "caption_entities"] = entities
        if reply_to:
            message["reply_to_message"] = reply_to
        if edit_of is not None:
            message["edit_date"] = int(time.time())
        return self.push({"message" if edit_of is None else "edited_message": message})

    def push_callback(self, data: str | None, message: dict[str, Any], *, user_id: int = 7,
                      language: str = "en") -> int:  # fmt: skip
        """A press on an inline button under ``message`` (a message the bot sent);
        ``data`` None sends a query without any, as a client may."""
        query = {
            "id": str(next(self._ids)),
            "from": {"id": user_id, "is_bot": False, "first_name": "Reader",
                     "language_code": language},
            "chat_instance": "1",
            **({"data": data} if data is not None else {}),
            "message": message,
        }  # fmt: skip
        return self.push({"callback_query": query})

    def push_inline_query(
        self, query: str, *, user_id: int = 7, language: str = "en", chat_type: str = "private"
    ) -> str:
        """A reader typing ``@bot QUERY`` in a chat of ``chat_type``; returns the
        query's id, which the bot's answerInlineQuery must name."""
        query_id = str(next(self._ids))
        inline = {
            "id": query_id,
            "from": {"id": user_id, "is_bot": False, "first_name": "Reader",
                     "language_code": language},
            "query": query,
            "offset": "",
            "chat_type": chat_type,
        }  # fmt: skip
        self.push({"inline_query": inline})
        return query_id

    async def inline_answer(self, query_id: str, within: float = 60.0) -> Call:
        """The bot's answer to inline query ``query_id``, once it came."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for call in self.sent("answerInlineQuery"):
                if str(call.params.get("inline_query_id")) == query_id:
                    return call
            await asyncio.sleep(0.02)
        raise AssertionError(f"inline query {query_id} was not answered")

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next call of ``method`` (after ``after`` more go through) with a
        Bot API error; ``"download"`` fails the next file download (Telegram's file
        server answers the same way)."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self.fail_next.setdefault(method, []).extend([*[None] * after, (status, body)])

    def add_file(self, file_id: str, data: bytes, *, path: bool = True) -> dict[str, Any]:
        """Make a file downloadable; returns the document object a message carries.
        Without ``path``, getFile leaves out the file's path, as Telegram does for a
        file it will not hand over."""
        self.files[file_id] = data
        if not path:
            self.pathless.add(file_id)
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(data)}

    def push_channel_post(
        self, text: str, *, username: str, message_id: int, edited: bool = False,
        title: str = "Newsroom Channel", chat_id: int = -1009999,
    ) -> int:  # fmt: skip
        post = {
            "message_id": message_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "channel", "title": title, "username": username},
            "sender_chat": {"id": chat_id, "type": "channel", "title": title},
            "text": text,
        }
        if edited:
            post["edit_date"] = 1_700_000_100
        return self.push({"edited_channel_post" if edited else "channel_post": post})

    def add_chat(
        self, chat_id: int, username: str = "", title: str = "Newsroom Channel",
        chat_type: str = "channel",
    ) -> None:  # fmt: skip
        """A channel (or a chat of ``chat_type``) getChat finds by its id or @username
        (any other is not found)."""
        chat = {"id": chat_id, "type": chat_type, "title": title, "accent_color_id": 0,
                "max_reaction_count": 11, "accepted_gift_types": {
                    "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                    "premium_subscription": False, "gifts_from_channels": False}}  # fmt: skip
        if username:
            chat["username"] = username
            self.chats[f"@{username.lower()}"] = chat
        self.chats[str(chat_id)] = chat

    def migrate(self, old: int, new: int) -> None:
        """Upgrade group ``old`` to supergroup ``new``: whatever is sent to ``old``
        from now on is refused as Telegram refuses it, naming ``new``."""
        self.migrated[str(old)] = new

    def push_migration(self, old: int, new: int, *, user_id: int = 7) -> tuple[int, int]:
        """Upgrade group ``old`` to supergroup ``new`` and push the two service
        messages Telegram sends for it: ``migrate_to_chat_id`` in the old group, then
        ``migrate_from_chat_id`` in the new supergroup. Returns their update ids."""
        self.migrate(old, new)
        sender = {"id": user_id, "is_bot": False, "first_name": "Reader"}

        def service(chat: int, chat_type: str, **migration: int) -> dict[str, Any]:
            return {"message": {
                "message_id": next(self._ids), "date": int(time.time()), "from": sender,
                "chat": {"id": chat, "type": chat_type, "title": "Newsroom"}, **migration,
            }}  # fmt: skip

        return (
            self.push(service(old, "group", migrate_to_chat_id=new)),
            self.push(service(new, "supergroup", migrate_from_chat_id=old)),
        )

    def push(self, update: dict[str, Any]) -> int:
        if "inline_query" in update:  # a query the bot may answer
            self.inline_queries.setdefault(update["inline_query"]["id"], update["inline_query"])
        uid = next(self._update_ids)
        self._updates.append({"update_id": uid, **update})
        self._new.set()
        return uid

    def message_id(self, update_id: int) -> int:
        """The id of the message (new or edited) that update ``update_id`` carries."""
        update = next(u for u in self._updates if u["update_id"] == update_id)
        return int((update.get("message") or update["edited_message"])["message_id"])

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method
            and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]

    async def wait_for(
        self, method: str, count: int = 1, within: float = 60.0, chat_id: int | None = None
    ) -> list[Call]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            calls = self.sent(method, chat_id)
            if len(calls) >= count:
                return calls
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"{count} {method} call(s) expected, got {len(self.sent(method, chat_id))}"
        )

    # -- the API ---------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        out: dict[str, Any] = {}
        for key, value in form.items():
            # uploads (a photo) arrive as multipart file fields: keep their bytes
            out[key] = value.file.read() if isinstance(value, web.FileField) else value
        return out

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params)
        if method != "getUpdates":
            self.calls.append(call)
        queued = self.fail_next.get(method)
        failure = queued.pop(0) if queued else None
        if failure is not None:
            status, body = failure
            return web.json_response(body, status=status)
        new = self.migrated.get(str(params.get("chat_id")))
        if new is not None:
            return web.json_response({
                "ok": False, "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": new},
            }, status=400)  # fmt: skip
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        response: web.Response = await handler(params)
        if method != "getUpdates" and response.status == 200 and response.body:
            call.result = json.loads(bytes(response.body))["result"]  # type: ignore[arg-type]
        return response

    @staticmethod
    def ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def bad(description: str) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 400, "description": description}, status=400
        )

    async def api_getMe(self, params: dict[str, Any]) -> web.Response:
        return self.ok(BOT)

    async def api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 1.0)
        deadline = time.monotonic() + wait
        # as Telegram does: updates of a type the bot did not ask for never come
        allowed = json.loads(params["allowed_updates"]) if params.get("allowed_updates") else None
        while True:
            ready = [
                u for u in self._updates
                if u["update_id"] >= offset
                and (allowed is None or set(u) - {"update_id"} <= set(allowed))
            ]  # fmt: skip
            if ready or time.monotonic() >= deadline:
                now = time.monotonic()
                for u in ready:
                    self.served.setdefault(u["update_id"], now)
                return self.ok(ready)
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), max(0.01, deadline - time.monotonic()))

    def _message(self, params: dict[str, Any], text: str) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), next(self._ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            # Telegram's group and channel ids are negative
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": BOT,
            "text": text,
        }
        markup = self._markup(params)
        if markup:
            message["reply_markup"] = markup
        self.messages[(chat_id, message_id)] = message
        return message

    @staticmethod
    def _markup(params: dict[str, Any]) -> Any:
        raw = params.get("reply_markup")
        return json.loads(raw) if isinstance(raw, str) else raw

    def _sent_message(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if "chat_id" not in params:  # a message sent by inline mode: not kept here
            return None
        return self.messages.get((int(params["chat_id"]), int(params["message_id"])))

    def _check_text(self, params: dict[str, Any]) -> str | None:
        text = str(params.get("text", ""))
        if not text.strip():
            return "Bad Request: message text is empty"
        if len(text) > 4096:
            return "Bad Request: message is too long"
        if params.get("parse_mode") == "HTML":
            error = parse_error(text)
            if error:
                return f"Bad Request: can't parse entities: {error}"
        return None

    async def api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        error = self._check_text(params)
        if error:
            return self.bad(error)
        return self.ok(self._message(params, str(params["text"])))

    async def api_editMessageText(self, params: dict[str, Any]) -> web.Response:
        error = self._check_text(params)
        if error:
            return self.bad(error)
        message = self._sent_message(params)
        if message is None:
            return self.bad("Bad Request: message to edit not found")
        # Telegram drops an inline keyboard that the edit does not repeat
        return self._edit(message, text=str(params["text"]), reply_markup=self._markup(params))

    async def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> web.Response:
        message = self._sent_message(params)
        if message is None:
            return self.bad("Bad Request: message to edit not found")
        return self._edit(message, reply_markup=self._markup(params))

    def _edit(self, message: dict[str, Any], **changes: Any) -> web.Response:
        if all(message.get(key) == value for key, value in changes.items()):
            return self.bad(
                "Bad Request: message is not modified: specified new message content and reply"
                " markup are exactly the same as a current content and reply markup of the message"
            )
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return self.ok(message)

    async def api_deleteMessage(self, params: dict[str, Any]) -> web.Response:
        if self.messages.pop((int(params["chat_id"]), int(params["message_id"])), None) is None:
            return self.bad("Bad Request: message to delete not found")
        return self.ok(True)

    async def api_answerInlineQuery(self, params: dict[str, Any]) -> web.Response:
        query_id = str(params.get("inline_query_id", ""))
        if query_id not in self.inline_queries or query_id in self.inline_answered:
            return self.bad(
                "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        results = self._json(params.get("results", "[]"))
        if not isinstance(results, list) or len(results) > 50:
            return self.bad("Bad Request: RESULTS_TOO_MUCH")
        ids = [str(r.get("id", "")) for r in results]
        if len(set(ids)) < len(ids) or any(not 0 < len(i.encode()) <= 64 for i in ids):
            return self.bad("Bad Request: RESULT_ID_INVALID")
        for r in results:
            content = r.get("input_message_content") or {}
            if r.get("type") != "article" or not r.get("title") or "message_text" not in content:
                return self.bad("Bad Request: RESULT_INVALID")
            error = self._check_text({**content, "text": content["message_text"]})
            if error:
                return self.bad(error)
        button = self._json(params.get("button"))
        if button is not None and (
            not button.get("text")
            or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(button.get("start_parameter", "")))
        ):
            return self.bad("Bad Request: BUTTON_INVALID")
        self.inline_answered.add(query_id)
        return self.ok(True)

    @staticmethod
    def _json(raw: Any) -> Any:
        return json.loads(raw) if isinstance(raw, str) else raw

    async def api_getChat(self, params: dict[str, Any]) -> web.Response:
        chat = self.chats.get(str(params["chat_id"]).lower())
        return self.ok(chat) if chat else self.bad("Bad Request: chat not found")

    async def api_getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            return self.bad("Bad Request: invalid file_id")
        path = {} if file_id in self.pathless else {"file_path": f"documents/{file_id}"}
        return self.ok({
            "file_id": file_id, "file_unique_id": f"u-{file_id}",
            "file_size": len(self.files[file_id]), **path,
        })  # fmt: skip

    async def _download(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.downloads.append(path)
        queued = self.fail_next.get("download")
        failure = queued.pop(0) if queued else None
        if failure is not None:
            status, body = failure
            return web.json_response(body, status=status)
        data = self.files.get(path.rsplit("/", 1)[-1])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data)

    async def api_sendPhoto(self, params: dict[str, Any]) -> web.Response:
        message = self._message(params, "")
        message.pop("text")
        message["photo"] = [{"file_id": "p1", "file_unique_id": "up1", "width": 700,
                             "height": 520}]  # fmt: skip
        if params.get("caption"):
            message["caption"] = params["caption"]
        return self.ok(message)

    def reply_markup(self, call: Call) -> Any:
        return self._markup(call.params)

    def inline_results(self, call: Call) -> list[dict[str, Any]]:
        """The results of an answerInlineQuery call."""
        return list(self._json(call.params.get("results", "[]")))

    def inline_button(self, call: Call) -> dict[str, Any] | None:
        """The button above the results of an answerInlineQuery call."""
        button = self._json(call.params.get("button"))
        return dict(button) if button else None
