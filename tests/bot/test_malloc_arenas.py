"""The serving bot's threads share two malloc arenas (bot.compose.limit_malloc_arenas):
counted by glibc itself (malloc_info), in fresh interpreters whose threads allocate
at once, as answering threads do."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.auxil.helpers import ROOT

ARENAS_AFTER_EIGHT_THREADS = """
import ctypes, os, sys, tempfile, threading
import numpy as np
from bot.compose import limit_malloc_arenas
limited = limit_malloc_arenas() if sys.argv[1] == "limit" else False
start, done = threading.Barrier(8), threading.Barrier(8)

def work():
    start.wait()
    kept = [np.ones(2000) for _ in range(200)]  # malloc'd, all threads at once
    done.wait()

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fdopen.restype = ctypes.c_void_p
libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fflush.argtypes = [ctypes.c_void_p]
fd, path = tempfile.mkstemp()
out = libc.fdopen(fd, b"w")
libc.malloc_info(0, out)
libc.fflush(out)
print(limited, open(path).read().count("<heap nr="))
os.remove(path)
"""


def arenas(how: str, **env: str) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run(
        [sys.executable, "-c", ARENAS_AFTER_EIGHT_THREADS, how],
        cwd=ROOT, env=environ, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_the_bots_threads_share_two_malloc_arenas() -> None:
    limited, heaps = arenas("limit")
    assert limited == "True" and heaps <= 2
    _, unlimited = arenas("none")
    assert unlimited > 2  # without the limit, threads that allocate take arenas of their own
    # an operator's own setting is left alone
    assert arenas("limit", MALLOC_ARENA_MAX="4")[0] == "False"
