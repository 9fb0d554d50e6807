"""A data dir's backup: the store with its vectors (:mod:`retrieval.store.backup`)
and the bot's own state (the chat state and the feed book), in one folder; and
its restoring.

The bot's state is copied first, then the store, whose manifest, written last,
vouches for every file in the folder: a folder without it is not a complete
backup. The chat state carries the key that user and chat ids are hashed with;
any key file kept beside it in the data dir (``*.key``) travels with it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from bot.telegram.state import ChatState
from retrieval.store import backup as store_backup
from retrieval.store.backup import BackupError, Progress
from retrieval.store.chunks import Store

CHAT = "chat.sqlite"
FEEDS = "feeds.sqlite"  # the feeds followed, their last good state and items seen
KEY_FILES = "*.key"
# Tables of the chat state that hold no reader's data.
NOT_DATA = {"meta"}


def write(
    store: Store, data_dir: Path, directory: Path, on_progress: Progress | None = None
) -> dict[str, Any]:
    """Back up the chat state of ``data_dir`` (when the bot has one) and ``store``
    into ``directory``, a new or empty folder. Returns the manifest."""
    check_target(directory)
    directory.mkdir(parents=True, exist_ok=True)
    chat = data_dir / CHAT
    if chat.is_file():
        state = ChatState(chat)
        try:
            state.backup(directory / CHAT)
        finally:
            state.close()
        for key in sorted(data_dir.glob(KEY_FILES)):
            shutil.copy2(key, directory / key.name)
    if (data_dir / FEEDS).is_file():
        _copy_database(data_dir / FEEDS, directory / FEEDS)
    return store_backup.dump(store, directory, on_progress)


def check_target(directory: Path) -> None:
    """Refuse a folder that holds anything: a backup goes into a new one."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupError(f"{directory} is not an empty folder: a backup goes into a new one")


def check(store: Store, directory: Path, data_dir: Path) -> dict[str, Any]:
    """The manifest of the complete backup in ``directory``, once it is known to
    fit ``store`` (the same model, an empty store) and ``data_dir`` (no chat state
    with readers' data in it)."""
    manifest = store_backup.read_manifest(directory)
    store_backup.check_fits(manifest, store)
    for name, what in ((CHAT, "chat state"), (FEEDS, "feeds")):
        target = data_dir / name
        if (directory / name).is_file() and target.is_file() and (used := _tables_in_use(target)):
            raise BackupError(
                f"the data dir already has {what} ({target}, with rows in {', '.join(used)}):"
                " move it away to restore the backup's"
            )
    return manifest


def read(
    store: Store,
    directory: Path,
    data_dir: Path,
    on_progress: Progress | None = None,
    *,
    manifest: dict[str, Any] | None = None,
) -> bool:
    """Fill the empty ``store`` from the backup in ``directory`` and put its chat
    state in ``data_dir``; everything is checked (:func:`check`) before anything
    is written. ``manifest``: what :func:`check` returned, when called already.
    Returns whether there was chat state to restore."""
    manifest = manifest or check(store, directory, data_dir)
    store_backup.load(store, directory, on_progress, manifest=manifest)
    data_dir.mkdir(parents=True, exist_ok=True)
    if (directory / FEEDS).is_file():
        _copy_database(directory / FEEDS, data_dir / FEEDS)
    if not (directory / CHAT).is_file():
        return False
    for key in sorted(directory.glob(KEY_FILES)):
        tmp = data_dir / f"{key.name}.part"
        shutil.copy2(key, tmp)
        tmp.replace(data_dir / key.name)
    _copy_database(directory / CHAT, data_dir / CHAT)
    return True


def _copy_database(source: Path, target: Path) -> None:
    """Through SQLite, which copies a database in use consistently and replaces
    the whole target, its journal included."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _tables_in_use(path: Path) -> list[str]:
    db = sqlite3.connect(str(path))
    try:
        names = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if name not in NOT_DATA and not name.startswith("sqlite_")
        ]
        return [n for n in names if db.execute(f'SELECT 1 FROM "{n}" LIMIT 1').fetchone()]
    finally:
        db.close()
