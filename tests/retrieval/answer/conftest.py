"""The fake OpenAI-compatible server the generated-answer tests talk to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auxil.fakeopenai import FakeOpenAI


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def llm(fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake.script.clear()
    fake.requests.clear()
    yield fake
    assert not fake.script, "scripted replies left unused"
