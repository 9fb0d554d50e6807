"""The bot's own state: chat histories, the question log, votes and rate limits.

One SQLite file in the data dir (WAL, so readers and the writer do not block each
other). User and chat ids are never stored as such: they are hashed with a key
made once per data dir and kept in its own file (``chat.key`` beside
``chat.sqlite``, mode 600), so the log can be studied without identifying
readers, and a copied database cannot be joined against Telegram ids without
the key.
Questions (with their answers and histories) are kept for a retention period.

Follows (a reader's standing topics) are kept the same way, and expire with the
same retention. Delivering one needs the chat's id, so that alone is kept, but
encrypted (Fernet) with a key derived from the same key file: the database alone
still identifies no one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.fernet import Fernet, InvalidToken

from retrieval.follows import Topic
from retrieval.service import Turn

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    chat TEXT NOT NULL,
    user TEXT NOT NULL,
    chat_type TEXT NOT NULL,
    language TEXT NOT NULL,
    question TEXT NOT NULL,
    query TEXT NOT NULL,
    answer TEXT NOT NULL,
    grounded INTEGER NOT NULL,
    evidence TEXT NOT NULL        -- JSON list of chunk ids behind the answer
);
CREATE INDEX IF NOT EXISTS questions_user_at ON questions (user, at);
CREATE INDEX IF NOT EXISTS questions_chat_at ON questions (chat, at);
CREATE INDEX IF NOT EXISTS questions_at ON questions (at);
CREATE TABLE IF NOT EXISTS votes (
    question INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    user TEXT NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    at REAL NOT NULL,
    PRIMARY KEY (question, user)
);
CREATE TABLE IF NOT EXISTS follows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,             -- when followed (again)
    chat TEXT NOT NULL,
    user TEXT NOT NULL,
    recipient TEXT NOT NULL,      -- the chat's id, encrypted: where the news goes
    language TEXT NOT NULL,
    topic TEXT NOT NULL,
    vector BLOB NOT NULL          -- the topic's embedding (float32)
);
CREATE INDEX IF NOT EXISTS follows_reader ON follows (chat, user);
CREATE INDEX IF NOT EXISTS follows_at ON follows (at);
CREATE TABLE IF NOT EXISTS follow_sent (
    follow INTEGER NOT NULL REFERENCES follows (id) ON DELETE CASCADE,
    article TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (follow, article)
);
CREATE INDEX IF NOT EXISTS follow_sent_at ON follow_sent (at);
CREATE TABLE IF NOT EXISTS digest (   -- the daily digest: one setting
    id INTEGER PRIMARY KEY CHECK (id = 1),
    chat INTEGER NOT NULL,            -- where it is posted: a channel or group, not a reader
    label TEXT NOT NULL,              -- the chat as the admin named it (@channel or its id)
    at TEXT NOT NULL,                 -- HH:MM, the newsroom's time
    language TEXT NOT NULL,
    last_day TEXT NOT NULL DEFAULT '' -- the newsroom's day it was last posted (YYYY-MM-DD)
);
"""

DAY = 86400.0
MINUTE = 60.0  # the rate limit's window

# Columns added after the first version, with their defaults for older rows.
ADDED_COLUMNS = {
    # answered, weak (answered just above the threshold), refused, smalltalk
    "outcome": "TEXT NOT NULL DEFAULT 'answered'",
    "score": "REAL NOT NULL DEFAULT 0",  # the best passage's score
    "topic": "TEXT NOT NULL DEFAULT ''",  # the standalone question a follow-up belongs to
    # edits answered again, each within a minute of the answer before: for the rate limit
    "edits": "INTEGER NOT NULL DEFAULT 0",
}
ANSWERED, WEAK, REFUSED, SMALLTALK = "answered", "weak", "refused", "smalltalk"
DISLIKED = "disliked"  # answered, and voted down


@dataclass(frozen=True)
class Gap:
    """A question the editors should see, and why: refused, weak or disliked."""

    question: str
    why: str


@dataclass(frozen=True)
class Follow:
    """A reader's follow as its owner sees it."""

    id: int
    topic: str
    at: float


@dataclass(frozen=True)
class Followed:
    """A follow as delivery needs it: the topic, where its news goes, in which
    language."""

    topic: Topic
    chat_id: int
    language: str


@dataclass(frozen=True)
class DigestSetting:
    """Where and when the daily digest is posted, and the day it last was."""

    chat: int
    label: str
    at: str  # HH:MM
    language: str
    last_day: str = ""


@dataclass(frozen=True)
class Logged:
    """A question as the log keeps it."""

    id: int
    at: float
    language: str
    question: str
    answer: str
    grounded: bool
    evidence: list[str]


class ChatState:
    """Thread-safe: the bot calls it from worker threads."""

    def __init__(self, path: Path | None, retention_days: int = 90, history_turns: int = 3):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention = retention_days * DAY
        self.history_turns = history_turns
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._add_columns()
        self._key = self._hash_key()
        self._box = Fernet(base64.urlsafe_b64encode(hmac.digest(self._key, b"recipient", "sha256")))
        self._last_purge = 0.0
        self.follows_version = 0  # changes whenever the follows do

    def _add_columns(self) -> None:
        have = {row[1] for row in self._db.execute("PRAGMA table_info(questions)")}
        for name, spec in ADDED_COLUMNS.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE questions ADD COLUMN {name} {spec}")
        if "outcome" not in have:  # rows from before: refused if not grounded
            self._db.execute(f"UPDATE questions SET outcome='{REFUSED}' WHERE grounded=0")

    def _hash_key(self) -> bytes:
        """The key ids are hashed with: in its own file beside the database (mode
        600), so that a copy of the database alone identifies no one."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='hash_key'").fetchone()
            if self.path is None:  # in memory: the key lives as long as the database
                if row is None:
                    self._db.execute(
                        "INSERT INTO meta (key, value) VALUES ('hash_key', ?)",
                        (secrets.token_hex(32),),
                    )
                    row = self._db.execute("SELECT value FROM meta WHERE key='hash_key'").fetchone()
                return bytes.fromhex(row[0])
            key_file = self.path.with_suffix(".key")
            if not key_file.exists():
                # a key kept in the database by earlier versions moves out of it
                key = row[0] if row is not None else secrets.token_hex(32)
                try:
                    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:  # another process made it first
                    pass
                else:
                    with os.fdopen(fd, "w") as fh:
                        fh.write(key)
            key = key_file.read_text().strip()
            self._db.execute("DELETE FROM meta WHERE key='hash_key'")
            return bytes.fromhex(key)

    def hash_id(self, kind: str, value: int) -> str:
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def backup(self, path: Path) -> None:
        """Copy the whole state, as it stands at one moment, to ``path`` (its key
        in it), with SQLite's online backup: the bot may go on writing meanwhile.
        The copy appears under ``path`` only once whole, as a single file."""
        tmp = path.with_name(path.name + ".part")
        tmp.unlink(missing_ok=True)
        dst = sqlite3.connect(str(tmp))
        try:
            if self.path is None:
                with self._lock:
                    self._db.backup(dst)
            else:  # a connection of its own: the bot's writes are not held up
                src = sqlite3.connect(str(self.path))
                try:
                    src.backup(dst)
                finally:
                    src.close()
            dst.execute("PRAGMA journal_mode=DELETE")  # one file, readable where it lies
        finally:
            dst.close()
        tmp.replace(path)

    # -- questions and history --------------------------------------------------------
    def log_question(
        self,
        *,
        chat_id: int,
        user_id: int,
        chat_type: str,
        language: str,
        question: str,
        query: str,
        answer: str,
        grounded: bool,
        evidence: Sequence[str],
        outcome: str | None = None,
        score: float = 0.0,
        topic: str = "",
        at: float | None = None,
        replaces: int | None = None,
    ) -> int:
        """Record an answered question; returns its id (what a vote refers to).
        ``outcome``: answered, weak, refused or smalltalk (by default, answered or
        refused as ``grounded`` says). ``replaces``: the id of the question this one
        is an edit of, rewritten in place (its votes, on the earlier answer, dropped)
        while it is kept; it stays one question, answered once more."""
        at = time.time() if at is None else at
        outcome = outcome or (ANSWERED if grounded else REFUSED)
        evidence_json = json.dumps(list(evidence))
        with self._lock:
            if replaces is not None:
                cur = self._db.execute(
                    "UPDATE questions SET edits=CASE WHEN at>? THEN edits+1 ELSE 0 END, at=?,"
                    " language=?, question=?, query=?, answer=?, grounded=?, evidence=?,"
                    " outcome=?, score=?, topic=? WHERE id=?",
                    (at - MINUTE, at, language, question, query, answer, int(grounded),
                     evidence_json, outcome, score, topic, replaces),
                )  # fmt: skip
                if cur.rowcount:
                    self._db.execute("DELETE FROM votes WHERE question=?", (replaces,))
                    return replaces
            cur = self._db.execute(
                "INSERT INTO questions (at, chat, user, chat_type, language, question, query,"
                " answer, grounded, evidence, outcome, score, topic)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    at,
                    self.hash_id("chat", chat_id),
                    self.hash_id("user", user_id),
                    chat_type,
                    language,
                    question,
                    query,
                    answer,
                    int(grounded),
                    evidence_json,
                    outcome,
                    score,
                    topic,
                ),
            )
        self.purge_now_and_then(at)
        return int(cur.lastrowid or 0)

    def history(
        self, chat_id: int, user_id: int, now: float | None = None, before: int | None = None
    ) -> list[Turn]:
        """The reader's last few turns in this chat, oldest first (a group's readers
        each have their own), within the retention period; with ``before``, those
        asked before that question (an edited question's own). Small talk is no turn."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT question, answer, topic, at FROM questions WHERE chat=? AND user=?"
                " AND at>=? AND outcome!=? AND id<? ORDER BY id DESC LIMIT ?",
                (
                    self.hash_id("chat", chat_id),
                    self.hash_id("user", user_id),
                    now - self.retention,
                    SMALLTALK,
                    2**63 - 1 if before is None else before,
                    self.history_turns,
                ),
            ).fetchall()
        return [Turn(q, a, t, at) for q, a, t, at in reversed(rows)]

    def question(self, question_id: int) -> Logged | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, at, language, question, answer, grounded, evidence FROM questions"
                " WHERE id=?",
                (question_id,),
            ).fetchone()
        if row is None:
            return None
        return Logged(row[0], row[1], row[2], row[3], row[4], bool(row[5]), json.loads(row[6]))

    def recent_questions(
        self, user_id: int, window: float = MINUTE, now: float | None = None
    ) -> int:
        """The answers the reader was given in the last ``window`` seconds (about: an
        edited question counts from its latest answer): one a question, and one more
        for each edit answered again."""
        now = time.time() if now is None else now
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COALESCE(SUM(1 + edits), 0) FROM questions WHERE user=? AND at>?",
                (self.hash_id("user", user_id), now - window),
            ).fetchone()
        return int(count)

    # -- votes ----------------------------------------------------------------------
    def vote(
        self, question_id: int, user_id: int, vote: int, at: float | None = None
    ) -> int | None:
        """Record a reader's vote on an answer: one per reader, the latest. Returns the
        vote it replaces (0 for none, or the same vote, then left as it was), or None
        if the question is no longer kept."""
        if vote not in (-1, 1):
            raise ValueError("a vote is +1 or -1")
        at = time.time() if at is None else at
        user = self.hash_id("user", user_id)
        with self._lock:
            row = self._db.execute(
                "SELECT vote FROM votes WHERE question=? AND user=?", (question_id, user)
            ).fetchone()
            before = int(row[0]) if row else 0
            if before == vote:
                return before
            try:
                self._db.execute(
                    "INSERT INTO votes (question, user, vote, at) VALUES (?,?,?,?) ON CONFLICT"
                    " (question, user) DO UPDATE SET vote=excluded.vote, at=excluded.at",
                    (question_id, user, vote, at),
                )
            except sqlite3.IntegrityError:  # the question has been purged
                return None
        return before

    def votes(self, question_id: int) -> tuple[int, int]:
        """(up, down) for one answer."""
        with self._lock:
            up, down = self._db.execute(
                "SELECT COALESCE(SUM(vote=1),0), COALESCE(SUM(vote=-1),0) FROM votes"
                " WHERE question=?",
                (question_id,),
            ).fetchone()
        return int(up), int(down)

    # -- what readers ask ---------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        """Questions (small talk apart), how they ended, and the votes."""
        with self._lock:
            counts = dict(
                self._db.execute("SELECT outcome, COUNT(*) FROM questions GROUP BY outcome")
            )
            up, down = self._db.execute(
                "SELECT COALESCE(SUM(vote=1),0), COALESCE(SUM(vote=-1),0) FROM votes"
            ).fetchone()
        answered, weak, refused = (int(counts.get(k, 0)) for k in (ANSWERED, WEAK, REFUSED))
        return {
            "questions": answered + weak + refused,
            "answered": answered + weak,
            "weak": weak,
            "refused": refused,
            "smalltalk": int(counts.get(SMALLTALK, 0)),
            "up": int(up),
            "down": int(down),
        }

    def daily(self, days: int = 30, now: float | None = None) -> dict[str, tuple[int, int]]:
        """Questions and answered questions per UTC day, for the last ``days`` days
        (small talk apart)."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT date(at, 'unixepoch') AS day, COUNT(*), SUM(outcome!=?) FROM questions"
                " WHERE at>=? AND outcome!=? GROUP BY day",
                (REFUSED, now - days * DAY, SMALLTALK),
            ).fetchall()
        return {day: (int(n), int(ok or 0)) for day, n, ok in rows}

    def gaps(self, days: int = 30, limit: int = 500, now: float | None = None) -> list[Gap]:
        """What the editors should look at, newest first: questions the coverage
        did not answer, answers only just above the threshold, and answers a
        reader voted down."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT q.question, q.outcome, EXISTS (SELECT 1 FROM votes v WHERE"
                " v.question=q.id AND v.vote=-1) AS disliked FROM questions q WHERE q.at>=?"
                " AND (q.outcome IN (?, ?) OR disliked) ORDER BY q.id DESC LIMIT ?",
                (now - days * DAY, REFUSED, WEAK, limit),
            ).fetchall()
        return [Gap(q, DISLIKED if disliked else outcome) for q, outcome, disliked in rows]

    # -- follows ----------------------------------------------------------------------
    def follow(
        self,
        *,
        chat_id: int,
        user_id: int,
        topic: str,
        vector: np.ndarray,
        language: str,
        at: float | None = None,
        limit: int = 0,
    ) -> int | None:
        """Follow ``topic`` for a reader in a chat; following the same topic again
        renews it. Returns the follow's number, or None when the reader follows
        ``limit`` topics already (0: no limit)."""
        at = time.time() if at is None else at
        chat, user = self.hash_id("chat", chat_id), self.hash_id("user", user_id)
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM follows WHERE chat=? AND user=? AND topic=? AND at>=?",
                (chat, user, topic, at - self.retention),
            ).fetchone()
            if row is not None:
                self._db.execute(
                    "UPDATE follows SET at=?, language=?, vector=? WHERE id=?",
                    (at, language, blob, row[0]),
                )
                self.follows_version += 1
                return int(row[0])
            (held,) = self._db.execute(
                "SELECT count(*) FROM follows WHERE chat=? AND user=? AND at>=?",
                (chat, user, at - self.retention),
            ).fetchone()
            if limit and held >= limit:
                return None
            recipient = self._box.encrypt(str(chat_id).encode()).decode()
            cur = self._db.execute(
                "INSERT INTO follows (at, chat, user, recipient, language, topic, vector)"
                " VALUES (?,?,?,?,?,?,?)",
                (at, chat, user, recipient, language, topic, blob),
            )
            self.follows_version += 1
        return int(cur.lastrowid or 0)

    def follows_of(self, chat_id: int, user_id: int, now: float | None = None) -> list[Follow]:
        """A reader's follows in a chat, oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, at FROM follows WHERE chat=? AND user=? AND at>=? ORDER BY id",
                (self.hash_id("chat", chat_id), self.hash_id("user", user_id),
                 now - self.retention),
            ).fetchall()  # fmt: skip
        return [Follow(int(i), str(t), float(at)) for i, t, at in rows]

    def unfollow(self, chat_id: int, user_id: int, ids: Sequence[int] | None = None) -> int:
        """Drop a reader's follows in a chat: those numbered ``ids``, or all."""
        where, params = "chat=? AND user=?", [self.hash_id("chat", chat_id),
                                              self.hash_id("user", user_id)]  # fmt: skip
        if ids is not None:
            where += f" AND id IN ({','.join('?' * len(ids))})"
            params += [str(i) for i in ids]
        with self._lock:
            cur = self._db.execute(f"DELETE FROM follows WHERE {where}", params)
            self.follows_version += 1
        return cur.rowcount

    def drop_chat(self, chat_id: int) -> int:
        """Drop every follow delivered to a chat (it blocked the bot, or is gone)."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM follows WHERE chat=?", (self.hash_id("chat", chat_id),)
            )
            self.follows_version += 1
        return cur.rowcount

    def move_chat(self, old_id: int, new_id: int) -> tuple[int, bool]:
        """A group upgraded to a supergroup has a new id: its follows (with what they
        sent, so no article comes twice) and a digest posted there move to it. A
        follow the new chat holds already (the same reader, the same topic) keeps
        its own and takes the old one's record. Returns the follows moved and
        whether the digest was; moving again does nothing."""
        old, new = self.hash_id("chat", old_id), self.hash_id("chat", new_id)
        # where the chat stands in for the reader (posts sent as the chat)
        old_user, new_user = self.hash_id("user", old_id), self.hash_id("user", new_id)
        recipient = self._box.encrypt(str(new_id).encode()).decode()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                rows = self._db.execute(
                    "SELECT id, user, topic FROM follows WHERE chat=?", (old,)
                ).fetchall()
                for fid, was, topic in rows:
                    user = new_user if was == old_user else was
                    twin = self._db.execute(
                        "SELECT id FROM follows WHERE chat=? AND user=? AND topic=?",
                        (new, user, topic),
                    ).fetchone()
                    if twin is None:
                        self._db.execute(
                            "UPDATE follows SET chat=?, user=?, recipient=? WHERE id=?",
                            (new, user, recipient, fid),
                        )
                    else:
                        self._db.execute(
                            "INSERT OR IGNORE INTO follow_sent (follow, article, at)"
                            " SELECT ?, article, at FROM follow_sent WHERE follow=?",
                            (twin[0], fid),
                        )
                        self._db.execute("DELETE FROM follows WHERE id=?", (fid,))
                digest = self._db.execute(
                    "UPDATE digest SET chat=?, label=CASE WHEN label=? THEN ? ELSE label END"
                    " WHERE chat=?",
                    (new_id, str(old_id), str(new_id), old_id),
                ).rowcount
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            if rows:
                self.follows_version += 1
        return len(rows), digest > 0

    def followed(self, now: float | None = None) -> list[Followed]:
        """Every live follow, with where its news goes (the recipient decrypted)."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, vector, recipient, language FROM follows WHERE at>=?"
                " ORDER BY id",
                (now - self.retention,),
            ).fetchall()
        out = []
        for fid, topic, blob, recipient, language in rows:
            try:
                chat_id = int(self._box.decrypt(recipient.encode()))
            except (InvalidToken, ValueError):  # another key's: it cannot be delivered
                continue
            vector = np.frombuffer(blob, dtype=np.float32)
            out.append(Followed(Topic(int(fid), str(topic), vector), chat_id, str(language)))
        return out

    def sent_today(self, follow_id: int, now: float | None = None) -> int:
        """Articles sent for a follow in the 24 hours before ``now``."""
        now = time.time() if now is None else now
        with self._lock:
            (n,) = self._db.execute(
                "SELECT count(*) FROM follow_sent WHERE follow=? AND at>?", (follow_id, now - DAY)
            ).fetchone()
        return int(n)

    def was_sent(self, follow_id: int, article_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM follow_sent WHERE follow=? AND article=?", (follow_id, article_id)
            ).fetchone()
        return row is not None

    def record_sent(self, follow_id: int, article_id: str, at: float | None = None) -> None:
        """Note that an article was sent for a follow (never sent for it again)."""
        at = time.time() if at is None else at
        with self._lock, contextlib.suppress(sqlite3.IntegrityError):  # unfollowed meanwhile
            self._db.execute(
                "INSERT OR IGNORE INTO follow_sent (follow, article, at) VALUES (?,?,?)",
                (follow_id, article_id, at),
            )

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?,?) ON CONFLICT (key)"
                " DO UPDATE SET value=excluded.value",
                (key, value),
            )

    # -- the daily digest ----------------------------------------------------------------
    def digest(self) -> DigestSetting | None:
        with self._lock:
            row = self._db.execute(
                "SELECT chat, label, at, language, last_day FROM digest WHERE id=1"
            ).fetchone()
        return None if row is None else DigestSetting(*row)

    def set_digest(self, chat: int, label: str, at: str, language: str) -> None:
        """Post the digest to ``chat`` at ``at``; the day it was last posted is kept
        while the chat stays the same (a new time does not post twice in one day)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO digest (id, chat, label, at, language) VALUES (1,?,?,?,?)"
                " ON CONFLICT (id) DO UPDATE SET last_day=CASE WHEN chat=excluded.chat"
                " THEN last_day ELSE '' END, chat=excluded.chat, label=excluded.label,"
                " at=excluded.at, language=excluded.language",
                (chat, label, at, language),
            )

    def clear_digest(self) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM digest").rowcount > 0

    def digest_posted(self, day: str) -> None:
        with self._lock:
            self._db.execute("UPDATE digest SET last_day=? WHERE id=1", (day,))

    # -- retention ------------------------------------------------------------------
    def purge(self, now: float | None = None) -> int:
        """Forget questions (and their votes), follows and what was sent for them,
        older than the retention period. Returns how many questions went."""
        now = time.time() if now is None else now
        cutoff = now - self.retention
        with self._lock:
            cur = self._db.execute("DELETE FROM questions WHERE at<?", (cutoff,))
            follows = self._db.execute("DELETE FROM follows WHERE at<?", (cutoff,)).rowcount
            self._db.execute("DELETE FROM follow_sent WHERE at<?", (cutoff,))
            if follows:
                self.follows_version += 1
            self._last_purge = now
        return cur.rowcount

    def purge_now_and_then(self, now: float) -> None:
        """Purge at most once an hour."""
        if now - self._last_purge > 3600:
            self.purge(now)
