"""The bot's chat state: history, question log, votes, limits, retention, hashing."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from bot.telegram.state import DAY, ChatState


def log(state: ChatState, chat: int, user: int, q: str, at: float) -> int:
    return state.log_question(
        chat_id=chat, user_id=user, chat_type="private", language="en", question=q,
        query=q, answer=f"answer to {q}", grounded=True, evidence=["a|r|0"], at=at,
    )  # fmt: skip


def test_history_is_per_reader_per_chat_recent_and_short(tmp_path: Path) -> None:
    state = ChatState(tmp_path / "chat.sqlite", retention_days=90, history_turns=3)
    now = 1_000_000_000.0
    for i in range(5):
        log(state, 1, 10, f"q{i}", now + i)
    log(state, 2, 10, "elsewhere", now + 9)
    log(state, 1, 11, "another reader", now + 9)  # in the same group
    assert [t.question for t in state.history(1, 10, now=now + 10)] == ["q2", "q3", "q4"]
    assert [t.at for t in state.history(1, 10, now=now + 10)] == [now + 2, now + 3, now + 4]
    assert state.history(1, 10, now=now + 91 * DAY) == []  # past retention, no context
    assert [t.answer for t in state.history(2, 10, now=now + 10)] == ["answer to elsewhere"]
    assert [t.question for t in state.history(1, 11, now=now + 10)] == ["another reader"]


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
    assert again.vote(qid, 987654321, -1) == 1  # the reader's earlier vote, replaced
    assert ChatState(tmp_path / "other.sqlite").hash_id("user", 987654321) != user


def test_votes_one_per_reader_the_latest_and_retention_forgets(tmp_path: Path) -> None:
    state = ChatState(tmp_path / "chat.sqlite", retention_days=30)
    now = 2_000_000_000.0
    old = log(state, 1, 10, "old", now - 31 * DAY)
    assert state.vote(old, 11, 1, at=now - 31 * DAY) == 0
    mid = log(state, 1, 10, "mid", now - 29 * DAY)
    assert state.vote(mid, 11, 1) == 0  # a first vote replaces none
    assert state.vote(mid, 11, -1) == 1  # one vote per reader: changed
    assert state.vote(mid, 11, -1) == -1  # the same again: as it was
    assert state.vote(mid, 12, -1) == 0
    assert state.votes(mid) == (0, 2) and state.votes(old) == (1, 0)
    new = log(state, 1, 10, "new", now)  # logging purges now and then
    assert state.question(old) is None and state.votes(old) == (0, 0)  # votes went with it
    assert state.question(mid) is not None and state.question(new) is not None
    assert state.vote(old, 13, 1) is None  # an answer no longer kept cannot be voted on
    assert state.recent_questions(10, now=now + 1) == 1
    assert state.purge(now=now + 2 * DAY) == 1  # "mid" is now past the period too


def test_an_edited_question_replaces_its_turn_and_counts_as_an_answer(tmp_path: Path) -> None:
    state = ChatState(tmp_path / "chat.sqlite")
    now = 2_000_000_000.0
    first = log(state, 1, 10, "q1", now)
    second = log(state, 1, 10, "q2", now + 1)
    state.vote(first, 10, -1, at=now + 2)
    assert [t.question for t in state.history(1, 10, now=now + 3, before=first)] == []
    assert [t.question for t in state.history(1, 10, now=now + 3, before=second)] == ["q1"]

    def edit(question: str, at: float) -> int:
        return state.log_question(
            chat_id=1, user_id=10, chat_type="private", language="en", question=question,
            query=question, answer=f"answer to {question}", grounded=True, evidence=[], at=at,
            replaces=first,
        )  # fmt: skip

    assert edit("q1, corrected", now + 10) == first  # rewritten in place
    assert [t.question for t in state.history(1, 10, now=now + 11)] == ["q1, corrected", "q2"]
    assert state.votes(first) == (0, 0)  # the vote was on the earlier answer
    assert state.totals()["questions"] == 2
    # each answer written counts toward the limit: three in the last minute...
    assert state.recent_questions(10, now=now + 11) == 3
    edit("q1, again", now + 20)
    assert state.recent_questions(10, now=now + 21) == 4
    assert state.recent_questions(10, now=now + 70) == 3  # (q2 has left the minute)
    # ...and an edit of a question asked over a minute before counts once
    edit("q1, much later", now + 200)
    assert state.recent_questions(10, now=now + 201) == 1
    state.purge(now=now + 91 * DAY)
    assert edit("q1, after it was forgotten", now + 91 * DAY) != first  # logged anew


def test_gaps_are_refusals_weak_answers_and_answers_voted_down(tmp_path: Path) -> None:
    state = ChatState(tmp_path / "chat.sqlite")
    now = 2_000_000_000.0

    def logged(q: str, outcome: str) -> int:
        return state.log_question(
            chat_id=1, user_id=2, chat_type="private", language="en", question=q, query=q,
            answer="a", grounded=outcome in ("answered", "weak"), evidence=[], outcome=outcome,
            at=now,
        )  # fmt: skip

    logged("refused one", "refused")
    logged("weak one", "weak")
    good = logged("good one", "answered")
    logged("liked one", "answered")
    logged("hello", "smalltalk")
    state.vote(good, 5, -1, at=now)
    gaps = state.gaps(now=now + 1)
    assert [(g.question, g.why) for g in gaps] == [
        ("good one", "disliked"),
        ("weak one", "weak"),
        ("refused one", "refused"),
    ]
    totals = state.totals()
    assert totals == {"questions": 4, "answered": 3, "weak": 1, "refused": 1, "smalltalk": 1,
                      "up": 0, "down": 1}  # fmt: skip
    assert state.history(1, 2, now=now + 1)[-1].question == "liked one"  # small talk is no turn


def test_a_log_from_before_outcomes_were_kept_is_read(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE questions (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,"
        " chat TEXT NOT NULL, user TEXT NOT NULL, chat_type TEXT NOT NULL, language TEXT NOT NULL,"
        " question TEXT NOT NULL, query TEXT NOT NULL, answer TEXT NOT NULL,"
        " grounded INTEGER NOT NULL, evidence TEXT NOT NULL);"
        "INSERT INTO questions (at, chat, user, chat_type, language, question, query, answer,"
        " grounded, evidence) VALUES (1e9, 'c', 'u', 'private', 'en', 'old q', 'old q', 'x', 0,"
        " '[]');"
    )
    old.close()
    state = ChatState(path, retention_days=100_000)
    assert [(g.question, g.why) for g in state.gaps(days=100_000, now=1e9 + 1)] == [
        ("old q", "refused")
    ]


def test_a_backup_is_one_moment_whole_while_the_bot_writes(tmp_path: Path) -> None:
    state = ChatState(tmp_path / "chat.sqlite")
    first = log(state, 1, 10, "before", 1e9)
    assert state.vote(first, 11, 1, at=1e9) == 0  # recorded: a first vote
    written: list[int] = []
    stop = threading.Event()

    def bot() -> None:
        while not stop.is_set():
            written.append(log(state, 2, 20, f"q{len(written)}", 1e9))

    writer = threading.Thread(target=bot)
    writer.start()
    try:
        while len(written) < 20:
            time.sleep(0.005)
        for n in range(3):
            state.backup(tmp_path / f"copy{n}.sqlite")
    finally:
        stop.set()
        writer.join()
    counts = []
    for n in range(3):
        path = tmp_path / f"copy{n}.sqlite"
        raw = sqlite3.connect(path)
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # a single file
        ids = [i for (i,) in raw.execute("SELECT id FROM questions ORDER BY id")]
        raw.close()
        assert ids == list(range(1, len(ids) + 1))  # a moment's state: no gap, no half write
        counts.append(len(ids))
        # with its key file beside it (a backup carries both), the same readers are
        # recognised; the database alone recognises no one
        (tmp_path / f"copy{n}.key").write_bytes((tmp_path / "chat.key").read_bytes())
        copy = ChatState(path)
        assert copy.hash_id("user", 10) == state.hash_id("user", 10)
        assert copy.votes(first) == (1, 0)
        copy.close()
    assert 21 <= counts[0] <= counts[-1] <= len(written) + 1
    assert not list(tmp_path.glob("*.part"))
    memory = ChatState(None)
    memory.backup(tmp_path / "memory.sqlite")
    assert ChatState(tmp_path / "memory.sqlite").hash_id("chat", 1) == memory.hash_id("chat", 1)


def test_the_hashing_key_lives_apart_from_the_database(tmp_path: Path) -> None:
    import sqlite3

    # a database from before, with its key inside it
    old = tmp_path / "chat.sqlite"
    db = sqlite3.connect(old)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('hash_key', ?)", ("ab" * 32,))
    db.commit()
    db.close()
    state = ChatState(old)
    hashed = state.hash_id("user", 42)
    state.close()
    key = tmp_path / "chat.key"
    assert key.read_text() == "ab" * 32 and key.stat().st_mode & 0o777 == 0o600
    assert sqlite3.connect(old).execute("SELECT * FROM meta WHERE key='hash_key'").fetchall() == []
    again = ChatState(old)  # the same key, read from its file
    assert again.hash_id("user", 42) == hashed
    again.close()
    key.unlink()  # the database alone hashes differently: it cannot re-identify anyone
    alone = ChatState(old)
    assert alone.hash_id("user", 42) != hashed
    alone.close()


def test_a_chat_moved_to_a_new_id_keeps_its_follows_what_they_sent_and_the_digest(
    tmp_path: Path,
) -> None:
    state = ChatState(tmp_path / "chat.sqlite")
    vector = np.ones(4, dtype=np.float32)

    def follow(chat: int, user: int, topic: str) -> int:
        fid = state.follow(chat_id=chat, user_id=user, topic=topic, vector=vector, language="en")
        assert fid is not None
        return fid

    old, new = -800, -1000000000800
    kept = follow(old, 7, "locusts")
    twin = follow(new, 8, "floods")  # followed again in the supergroup before the move
    merged = follow(old, 8, "floods")
    by_chat = follow(old, old, "dates")  # posted as the group: the chat is the reader
    follow(-801, 7, "locusts")  # another group's
    state.record_sent(kept, "a1")
    state.record_sent(merged, "a2")
    state.set_digest(old, str(old), "07:00", "en")
    version = state.follows_version

    assert state.move_chat(old, new) == (3, True)
    assert state.follows_version > version
    assert state.follows_of(old, 7) == [] and state.follows_of(old, 8) == []
    assert [f.id for f in state.follows_of(new, 7)] == [kept]
    assert [f.id for f in state.follows_of(new, 8)] == [twin]  # one follow, not two
    assert [f.id for f in state.follows_of(new, new)] == [by_chat]
    assert state.was_sent(kept, "a1") and state.was_sent(twin, "a2")
    assert sorted(f.chat_id for f in state.followed()) == [new, new, new, -801]
    digest = state.digest()
    assert digest is not None and (digest.chat, digest.label) == (new, str(new))

    version = state.follows_version
    assert state.move_chat(old, new) == (0, False)  # told twice: nothing more to move
    assert state.follows_version == version
    assert sorted(f.chat_id for f in state.followed()) == [new, new, new, -801]
    state.close()
