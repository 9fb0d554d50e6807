"""Folders that refuse writes, for real: by permissions where that stops the test's
user, by the kernel where it does not (root), and a disk that turns read-only
under open files, as one does after an error. Each checks that a write is now
refused, and skips (saying why) where this machine cannot make it so."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def refuses_writes(path: Path) -> bool:
    """Whether a new file in ``path`` is refused."""
    probe = path / f".probe-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
    except OSError:
        return True
    probe.unlink()
    return False


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path``, an existing folder, read-only for the processes started inside:
    without write permission for an ordinary user; for root, whom permissions do
    not stop, a read-only bind mount of it over itself."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p, mode in modes.items():
            p.chmod(mode & ~0o222)
        try:
            assert refuses_writes(path)
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    made = _run("mount", "--bind", str(path), str(path))
    if made.returncode != 0:
        pytest.skip(f"running as root, and no read-only bind mount here: {made.stderr.strip()}")
    try:
        sealed = _run("mount", "-o", "remount,bind,ro", str(path))
        if sealed.returncode != 0:
            pytest.skip(f"running as root, and a bind mount stays writable: {sealed.stderr}")
        assert refuses_writes(path)
        yield
    finally:
        _run("umount", "-l", str(path))


@contextlib.contextmanager
def failing_disk(path: Path, megabytes: int = 96) -> Iterator[Callable[[], None]]:
    """A small ext4 file system mounted at ``path`` (made empty) with
    ``errors=remount-ro``; the function yielded makes the kernel record an error
    on it, so that it turns read-only at once, under the files already open (a
    plain remount would wait for them to close). Needs root."""
    if os.geteuid() != 0:
        pytest.skip("a disk turning read-only under open files needs root (a loop device)")
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed")
    image = path.with_name(path.name + ".img")
    with image.open("wb") as fh:
        fh.truncate(megabytes << 20)
    made = _run("mkfs.ext4", "-q", "-F", str(image))
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
    path.mkdir(parents=True, exist_ok=True)
    mounted = _run("mount", "-o", "loop,errors=remount-ro", str(image), str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {mounted.stderr.strip()}")
    device = Path(_run("findmnt", "-n", "-o", "SOURCE", str(path)).stdout.strip()).name
    trigger = Path("/sys/fs/ext4") / device / "trigger_fs_error"

    def fail() -> None:
        trigger.write_text("simulated disk error\n")
        assert refuses_writes(path)

    try:
        if not trigger.exists():
            pytest.skip(f"this kernel has no {trigger}")
        yield fail
    finally:
        _run("umount", "-l", str(path))
        image.unlink(missing_ok=True)
