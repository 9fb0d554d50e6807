"""A data dir that refuses writes: `rawi ingest` into one, and the bot serving while
its disk turns read-only under it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.context import Admin, Services
from bot.telegram.state import ChatState
from bot.telegram.texts import ADMIN_TEXTS, TEXTS
from retrieval.answer.extractive import ExtractiveAnswerer
from retrieval.ingest import pipeline
from retrieval.ingest.loaders import Loaded, make_article
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.service import QAService
from retrieval.store.check import problems
from retrieval.store.chunks import Store
from retrieval.store.clients import StoreReadOnly, embedded_client
from tests.auxil.disks import failing_disk, read_only
from tests.auxil.fakebotapi import FakeBotAPI
from tests.auxil.helpers import rawi, searcher_for
from tests.auxil.telegram import running

pytestmark = pytest.mark.slow
ADMIN = 500

PIER = make_article(
    ["The north pier of Oasis harbour reopened on Monday after repairs that cost 40 "
     "million riyals, the port authority said."],
    title="Harbour pier reopens", given_id="pier",
)  # fmt: skip
MARKET = make_article(
    ["افتتحت بلدية الواحة السوق المركزي الجديد يوم الأحد بتكلفة 12 مليون ريال، ويضم 300 متجر."],
    title="افتتاح السوق المركزي", given_id="market",
)  # fmt: skip


@pytest.mark.parametrize("frozen", ["data", "data/chroma", "parent"])
def test_ingest_into_a_read_only_data_dir_says_so_plainly(tmp_path: Path, frozen: str) -> None:
    data = tmp_path / ("parent/data" if frozen == "parent" else "data")
    (tmp_path / "parent").mkdir()
    pier, market = tmp_path / "pier.json", tmp_path / "market.json"
    for path, article in ((pier, PIER), (market, MARKET)):
        path.write_text(json.dumps(article.to_record(), ensure_ascii=False), "utf-8")
    if frozen != "parent":  # a store that has served
        out = rawi("ingest", str(pier), data_dir=data)
        assert out.returncode == 0, out.stderr[-2000:]
    with read_only(tmp_path / frozen):
        out = rawi("ingest", str(market), data_dir=data)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    (said,) = [line for line in out.stderr.splitlines() if line.startswith("rawi:")]
    assert f"rawi: the data dir {data} is read-only (" in said
    assert "Make it writable" in said and "RAWI_DATA_DIR" in said
    if frozen != "parent":  # writable again: the store was not harmed
        out = rawi("ingest", str(market), data_dir=data)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.startswith("1 added")


def test_an_ingest_whose_disk_turns_read_only_stops_with_what_it_committed_whole(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "EMBED_GROUP", 1)  # every article its own write
    articles = [
        make_article([f"Bulletin {i}: the port handled {100 + i} ships on day {i}."],
                     title=f"Bulletin {i}", given_id=f"b{i}")
        for i in range(5)
    ]  # fmt: skip
    data = tmp_path / "data"
    with failing_disk(data) as fail:
        store = Store(embedded_client(data), embedder)
        done = [0]

        def on_item(n: int) -> None:
            done[0] += n
            if done[0] == 2:  # two articles committed: the disk fails
                fail()

        report = pipeline.IngestReport()
        with pytest.raises(StoreReadOnly) as stopped:
            Ingestor(store, embedder).run([Loaded("t", a) for a in articles], on_item, report)
        assert str(stopped.value).startswith(
            f"{data / 'chroma'} refuses writes (Read-only file system) after 2 article(s) were "
            "added and 0 updated, each whole. Make it writable"
        )
        assert report.added == ["b0", "b1"] and report.failed == []
        assert [a.id for a in store.catalogue.articles()] == ["b0", "b1"]
        assert problems(store, embedder) == []  # read on the read-only disk: whole


def command(api: FakeBotAPI, words: str, language: str = "en") -> None:
    api.push_message(words, chat_id=ADMIN, user_id=ADMIN, language=language,
                     entities=[{"type": "bot_command", "offset": 0,
                                "length": len(words.split(maxsplit=1)[0])}])  # fmt: skip


async def ask(api: FakeBotAPI, question: str, chat_id: int, language: str = "en") -> Any:
    before = len(api.sent("sendMessage", chat_id=chat_id))
    api.push_message(question, chat_id=chat_id, user_id=chat_id, language=language)
    return (await api.wait_for("sendMessage", count=before + 1, chat_id=chat_id))[before]


async def test_readers_are_answered_while_the_disk_turns_read_only(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    with failing_disk(data) as fail:
        store = Store(embedded_client(data), embedder)
        searcher = searcher_for(store, embedder, data / "lexical.sqlite")
        Ingestor(store, embedder).run([Loaded("t", PIER), Loaded("t", MARKET)])
        state = ChatState(data / "chat.sqlite")
        services = Services(
            QAService(searcher, ExtractiveAnswerer(embedder)), store.catalogue.coverage, state,
            follow=store.follow, follow_interval=0.5,
        )  # fmt: skip
        admin = Admin(
            admin_ids=frozenset({ADMIN}), store=store, ingestor=Ingestor(store, embedder),
            state=state, embedder=embedder,
        )  # fmt: skip
        try:
            async with running(services, admin=admin) as api:
                before = await ask(api, "How much did the pier repairs cost?", 101)
                assert "40 million riyals" in before.params["text"]
                up = api.reply_markup(before)["inline_keyboard"][0][0]["callback_data"]
                fail()  # the chat log, the lexical index and the store all refuse writes now

                # readers are answered as before, in their language; with no 👍/👎, as no
                # vote could be recorded
                en = await ask(api, "How much did the pier repairs cost?", 102)
                assert "40 million riyals" in en.params["text"]
                assert "reply_markup" not in en.params
                ar = await ask(api, "كم متجرًا يضم السوق المركزي الجديد؟", 103)
                assert "300 متجر" in ar.params["text"] and "reply_markup" not in ar.params
                # a vote on an answer from before is refused plainly
                api.push_callback(up, before.result, user_id=101)
                (voted,) = await api.wait_for("answerCallbackQuery")
                assert voted.params["text"] == TEXTS["vote_failed"]["en"]

                # the admin is told plainly that the store is read-only, in their language
                command(api, "/add أغلق الطريق الساحلي\nيُغلق الطريق الساحلي الساعة التاسعة.",
                        language="ar")  # fmt: skip
                (added,) = await api.wait_for("sendMessage", chat_id=ADMIN)
                assert ADMIN_TEXTS["store_read_only"]["ar"] in added.params["text"]
                assert "Traceback" not in added.params["text"]
                assert len(store.catalogue.articles()) == 2
                command(api, "/remove pier")
                _, confirm = await api.wait_for("sendMessage", count=2, chat_id=ADMIN)
                remove = api.reply_markup(confirm)["inline_keyboard"][0][0]["callback_data"]
                api.push_callback(remove, confirm.result, user_id=ADMIN)
                *_, removed = await api.wait_for("sendMessage", count=3, chat_id=ADMIN)
                assert removed.params["text"] == ADMIN_TEXTS["store_read_only"]["en"]
                assert store.catalogue.info("pier") is not None

                # and readers are still answered
                again = await ask(api, "How much did the pier repairs cost?", 104)
                assert "40 million riyals" in again.params["text"]
        finally:
            state.close()
            store.close()
    assert not [r for r in caplog.records if r.exc_info]  # told plainly, logged plainly
