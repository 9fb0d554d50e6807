"""`rawi backup` and `rawi restore`: a data dir moved whole, vectors and chat state,
the model never called; and the restores refused, each with its reason."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.telegram.state import ChatState
from retrieval.feeds import FeedBook
from retrieval.store.chunks import Store
from retrieval.store.clients import embedded_client
from retrieval.store.lexical import LexicalIndex
from retrieval.types import ChunkRecord
from tests.auxil.helpers import GAZA_REPORTS, SAMPLE_ARTICLES, model_out_of_reach
from tests.bot.test_cli import rawi

QUESTIONS = [
    {"id": "latest", "question": "What is the latest death toll in Gaza?", "as_of": "2023-11-10"},
    {"id": "on-day", "question": "كم كان عدد القتلى في غزة يوم 25 أكتوبر؟", "as_of": "2023-11-10"},
    {"id": "okaz", "question": "ماذا قالت عكاظ عن القتلى في غزة؟", "as_of": "2023-11-10"},
    {"id": "library", "question": "متى تفتح المكتبة الجديدة أبوابها؟", "as_of": "2023-11-10"},
    {"id": "cup", "question": "Who saved two penalties in the cup final?", "as_of": "2023-11-10"},
    {"id": "nobel", "question": "Who won the 2022 Nobel Prize in Physics?", "as_of": "2023-11-10"},
]


@pytest.fixture
def in_process(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """`rawi` run in this process (where the model can be put out of reach):
    (exit code, stdout, stderr)."""
    previous = signal.getsignal(signal.SIGTERM)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    signal.signal(signal.SIGTERM, previous)


def answers(kind: str, data_dir: Path, batch: Path) -> dict[str, dict]:
    out = rawi(kind, "--json", "--batch", str(batch), data_dir=data_dir).stdout
    return {x["id"]: x for x in map(json.loads, out.splitlines())}


@pytest.mark.slow
def test_a_restored_data_dir_answers_the_same_and_the_model_is_never_called(
    tmp_path: Path, embedder, in_process, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = tmp_path / "a"
    rawi("ingest", str(GAZA_REPORTS), *map(str, SAMPLE_ARTICLES), data_dir=a)
    state = ChatState(a / "chat.sqlite")
    qid = state.log_question(
        chat_id=-100123, user_id=777, chat_type="group", language="en", question="Gaza toll?",
        query="Gaza toll?", answer="10,022", grounded=True, evidence=["x|y|0"],
    )  # fmt: skip
    assert state.vote(qid, 778, 1) == 0  # a first vote
    hashed = state.hash_id("user", 777)
    state.close()
    key = a / "chat.key"  # the hashing key, kept apart from the database
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_text().strip()) == 64
    assert b"hash_key" not in (a / "chat.sqlite").read_bytes()  # a copy alone names no one
    book = FeedBook(a / "feeds.sqlite")
    book.add("https://news.example/rss", "Example news", "rss", now=1.0)
    book.close()

    bk = tmp_path / "backup"
    made = rawi("backup", str(bk), data_dir=a)
    assert "8 articles (" in made.stdout and "and the chat state backed up" in made.stdout
    assert "backing up" in made.stderr  # progress on standard error
    assert sorted(p.name for p in bk.iterdir()) == [
        "articles-00000.jsonl",
        "chat.key",
        "chat.sqlite",
        "feeds.sqlite",
        "manifest.json",
        "vectors-00000.npy",
    ]
    again = rawi("backup", str(bk), data_dir=a, check=False)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert again.stderr.strip().splitlines() == [
        f"rawi: {bk} is not an empty folder: a backup goes into a new one"
    ]

    # a new data dir, where a lexical index of another store was left behind
    b = tmp_path / "b"
    left = LexicalIndex(b / "lexical.sqlite")
    left.apply([ChunkRecord("gone|r0|0", "gone", "r0", "Gaza death toll", {"index": 0},
                            np.ones(384, np.float32), "Gone")])  # fmt: skip
    left.close()
    with monkeypatch.context() as m:
        model_out_of_reach(m)
        code, out, err = in_process("--data-dir", str(b), "restore", str(bk))
    assert code == 0, err
    assert "8 articles (" in out and "and the chat state restored" in out
    assert "nothing re-embedded" in out and "restoring" in err

    original = Store(embedded_client(a), embedder)
    revisions, chunks = original.catalogue.revisions(), original.count_chunks()
    original.close()
    lexical = LexicalIndex(b / "lexical.sqlite")  # derived: in step with what was restored
    assert lexical.revisions() == revisions and lexical.count() == chunks
    lexical.close()

    def listed(data_dir: Path) -> str:
        return rawi("articles", "--json", data_dir=data_dir).stdout

    assert listed(b) == listed(a) and len(listed(a).splitlines()) == 8
    info_a, info_b = (json.loads(rawi("info", "--json", data_dir=d).stdout) for d in (a, b))
    assert info_b["chunks"] == info_a["chunks"] == chunks and info_b["articles"] == 8

    batch = tmp_path / "questions.jsonl"
    batch.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS))
    found_a, found_b = answers("search", a, batch), answers("search", b, batch)
    for q in QUESTIONS:
        hits_a, hits_b = found_a[q["id"]]["hits"], found_b[q["id"]]["hits"]
        assert [h["chunk_id"] for h in hits_b] == [h["chunk_id"] for h in hits_a], q
        assert np.allclose([h["score"] for h in hits_b], [h["score"] for h in hits_a], atol=1e-6)
    assert found_a["latest"]["hits"]  # the comparison is not of empty lists
    said_a, said_b = answers("ask", a, batch), answers("ask", b, batch)
    for q in QUESTIONS:
        assert said_b[q["id"]]["answer"] == said_a[q["id"]]["answer"], q
        assert said_b[q["id"]]["citations"] == said_a[q["id"]]["citations"], q
    assert said_a["latest"]["grounded"] and not said_a["nobel"]["grounded"]

    restored = ChatState(b / "chat.sqlite")  # the same key: the same reader's hash
    assert restored.hash_id("user", 777) == hashed
    logged = restored.question(qid)
    assert logged is not None and logged.question == "Gaza toll?"
    assert restored.votes(qid) == (1, 0)
    assert restored.history(-100123, 777)[-1].answer == "10,022"
    restored.close()
    assert (b / "chat.key").read_bytes() == key.read_bytes()
    book = FeedBook(b / "feeds.sqlite")  # the feeds followed come back too
    assert [f.url for f in book.feeds()] == ["https://news.example/rss"]
    book.close()
    assert (b / "chat.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_restores_that_do_not_fit_are_refused_before_anything_is_written(
    tmp_path: Path, embedder, in_process
) -> None:
    a = tmp_path / "a"
    rawi("ingest", str(GAZA_REPORTS), data_dir=a)
    ChatState(a / "chat.sqlite").close()
    bk = tmp_path / "backup"
    assert in_process("--data-dir", str(a), "backup", str(bk))[0] == 0

    def refused(data_dir: Path, backup: Path) -> str:
        code, out, err = in_process("--data-dir", str(data_dir), "restore", str(backup))
        assert code == 1 and out == "" and "Traceback" not in err
        assert err.startswith("rawi: ") and len(err.strip().splitlines()) == 1
        return err

    assert "the store is not empty (4 articles" in refused(a, bk)

    used = tmp_path / "used"  # an empty store, but chat state with readers in it
    state = ChatState(used / "chat.sqlite")
    state.log_question(chat_id=1, user_id=2, chat_type="private", language="en", question="q",
                       query="q", answer="a", grounded=False, evidence=[])  # fmt: skip
    state.close()
    assert "already has chat state" in refused(used, bk)

    other = tmp_path / "other-model"
    other.mkdir()
    for f in bk.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["model"]["id"] = "intfloat/multilingual-e5-base"
    (other / "manifest.json").write_text(json.dumps(manifest))
    err = refused(tmp_path / "fresh", other)
    assert "'intfloat/multilingual-e5-base'" in err and "`rawi export` and `rawi import`" in err

    (other / "manifest.json").unlink()
    assert "not a complete backup" in refused(tmp_path / "fresh", other)

    for data_dir in (used, tmp_path / "fresh"):  # nothing was written by the refusals
        store = Store(embedded_client(data_dir), embedder)
        assert store.catalogue.articles() == [] and store.count_chunks() == 0
        store.close()
    assert not (tmp_path / "fresh" / "chat.sqlite").exists()
    assert ChatState(used / "chat.sqlite").totals()["refused"] == 1


def test_help_lists_backup_and_restore(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "backup" in out and "copy the store with its vectors" in out
    assert "restore" in out and "nothing re-embedded" in out
