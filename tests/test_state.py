"""The bot's chat state: history, question log, votes, limits, retention, hashing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.state import DAY, ChatState


def log(state: ChatState, chat: int, user: int, q: str, at: float) -> int:
    return state.log_question(
        chat_id=chat, user_id=user, chat_type="private", language="en", question=q,
        query=q, answer=f"answer to {q}", grounded=True, evidence=["a|r|0"], at=at,
    )  # fmt: skip


def test_history_is_per_chat_recent_and_short(tmp_path: Path) -> None:
    state = ChatState(tmp_path / "chat.sqlite", retention_days=90, history_turns=3)
    now = 1_000_000_000.0
    for i in range(5):
        log(state, 1, 10, f"q{i}", now + i)
    log(state, 2, 10, "elsewhere", now + 9)
    assert [t.question for t in state.history(1, now=now + 10)] == ["q2", "q3", "q4"]
    assert state.history(1, now=now + 91 * DAY) == []  # past retention, no context
    assert [t.answer for t in state.history(2, now=now + 10)] == ["answer to elsewhere"]


def test_ids_are_hashed_with_a_key_kept_in_the_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite"
    state = ChatState(path)
    qid = log(state, 123456789, 987654321, "q", 1e9)
    state.vote(qid, 987654321, 1, at=1e9)
    state.close()
    raw = sqlite3.connect(path)
    dump = "\n".join(raw.iterdump())
    assert "123456789" not in dump and "987654321" not in dump
    (user,) = raw.execute("SELECT user FROM questions").fetchone()
    raw.close()
    again = ChatState(path)  # same key after a restart: the same reader is recognised
    assert again.hash_id("user", 987654321) == user
    assert again.vote(qid, 987654321, -1) is False
    assert ChatState(tmp_path / "other.sqlite").hash_id("user", 987654321) != user


def test_votes_one_per_reader_and_retention_forgets(tmp_path: Path) -> None:
    state = ChatState(tmp_path / "chat.sqlite", retention_days=30)
    now = 2_000_000_000.0
    old = log(state, 1, 10, "old", now - 31 * DAY)
    assert state.vote(old, 11, 1, at=now - 31 * DAY)
    mid = log(state, 1, 10, "mid", now - 29 * DAY)
    assert state.vote(mid, 11, -1) and not state.vote(mid, 11, 1)  # one vote per reader
    assert state.vote(mid, 12, -1)
    assert state.votes(mid) == (0, 2) and state.votes(old) == (1, 0)
    new = log(state, 1, 10, "new", now)  # logging purges now and then
    assert state.question(old) is None and state.votes(old) == (0, 0)  # votes went with it
    assert state.question(mid) is not None and state.question(new) is not None
    assert state.vote(old, 13, 1) is False  # an answer no longer kept cannot be voted on
    assert state.recent_questions(10, now=now + 1) == 1
    assert state.purge(now=now + 2 * DAY) == 1  # "mid" is now past the period too
