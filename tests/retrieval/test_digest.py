"""The day's stories: real SaudiNewsNet articles, embedded by the bundled model
into a real store, grouped by the vectors already there."""

from __future__ import annotations

from datetime import date

import pytest

from retrieval.digest import DigestBuilder
from retrieval.ingest.loaders import Loaded, load_paths
from retrieval.ingest.pipeline import Ingestor
from retrieval.model.embedder import Embedder
from retrieval.scope import Outlets
from retrieval.store.chunks import Store
from tests.auxil.fakeopenai import FakeOpenAI, Reply
from tests.auxil.helpers import configured_outlets, shared_path
from tests.auxil.telegram import chat_model

DAY = date(2015, 7, 26)
# Three stories told by two outlets each, and one by a single outlet.
SUEZ = {
    ("aljazirah", "ثلاث سفن تعبر قناة السويس الجديدة في أول تشغيل تجريبي"),
    ("almadina", "3 سفن تعبر قناة السويس الجديدة في أول تشغيل تجريبي"),
}
SHARES = {
    ("alriyadh", "الأسهم المحلية تتراجع 71 نقطة بتداولات 5 مليارات ريال"),
    ("aawsat", "الأسهم السعودية تغلق على انخفاض بنسبة 0.76%"),
}
TOKYO = {
    ("sabq", "تحطم طائرة سياحية فوق منطقة سكنية في طوكيو"),
    ("alweeam", "مصرع ثلاثة أشخاص إثر تحطم طائرة في طوكيو"),
}
GREECE = {("aawsat", "اليونان تطلب قرضًا جديدًا من صندوق النقد الدولي")}
STORIES = (SUEZ, SHARES, TOKYO, GREECE)


@pytest.fixture(scope="module")
def articles() -> dict[tuple[str, str], Loaded]:
    wanted = set().union(*STORIES)
    found = {}
    for item in load_paths([shared_path("saudinewsnet", f"{DAY}.zip")]):
        a = item.article
        if a is not None and (a.source, a.title.strip()) in wanted:
            found[(a.source, a.title.strip())] = item
    assert set(found) == wanted
    return found


@pytest.fixture
def day_store(store: Store, embedder: Embedder, articles: dict[tuple[str, str], Loaded]) -> Store:
    report = Ingestor(store, embedder).run(list(articles.values()))
    assert len(report.added) == len(articles)
    return store


def titles(story: object) -> set[tuple[str, str]]:
    return {(r.source, r.title.strip()) for r in story.reports}  # type: ignore[attr-defined]


def test_the_same_story_from_several_outlets_is_one_group(day_store: Store) -> None:
    outlets = Outlets(configured_outlets())
    digest = DigestBuilder(day_store, outlets).build(DAY, "ar")
    assert digest.articles == 7
    told = [titles(s) for s in digest.stories]
    # the stories told by two outlets first, the one told by one last
    assert len(told) == 4 and told[3] == GREECE
    assert sorted(map(sorted, told[:3])) == sorted(map(sorted, [SUEZ, SHARES, TOKYO]))
    assert digest.groups == 3
    assert [len(s.outlets) for s in digest.stories] == [2, 2, 2, 1]
    # the lead is a sentence of one of the story's articles, quoted with its exact span
    for story in digest.stories:
        c = story.lead.citations[0]
        assert not story.lead.written and story.lead.text == c.quote
        article = day_store.catalogue.get_article(c.article_id)
        assert article is not None and article.text[c.start : c.end] == c.quote
        assert c.article_id == story.reports[0].article_id
        assert c.outlet == outlets.name(c.source, "ar") != c.source
    suez = next(s for s in digest.stories if titles(s) == SUEZ)
    assert "قناة السويس" in suez.lead.text
    # another day holds none of them
    assert DigestBuilder(day_store).build(date(2015, 7, 27)).stories == ()


def test_a_stricter_threshold_splits_what_a_looser_one_joins(day_store: Store) -> None:
    loose = DigestBuilder(day_store, threshold=0.5).build(DAY)
    assert len(loose.stories) < 4
    strict = DigestBuilder(day_store, threshold=0.995).build(DAY)
    assert len(strict.stories) == 7 and strict.groups == 0


def test_a_written_lead_is_checked_and_falls_back_to_the_quote(day_store: Store) -> None:
    fake = FakeOpenAI().start()
    try:
        fake.then(
            "تراجعت الأسهم السعودية 71 نقطة [K1]. وهذه جملة بلا مفتاح.",
            "جملة لا تذكر أي مفتاح.",  # unchecked: the quote instead
            Reply(status=500),  # the model fails: the quote instead
            Reply(status=500),
        )
        builder = DigestBuilder(day_store, max_stories=3, model=chat_model(fake))
        digest = builder.build(DAY, "ar")
        first, second, third = digest.stories
        assert first.lead.written
        assert first.lead.text == "تراجعت الأسهم السعودية 71 نقطة [1]."
        (cited,) = first.lead.citations
        assert (cited.source, cited.title.strip()) in titles(first)
        # the passages given were the story's own, one an outlet
        prompt = fake.requests[0].text()
        assert prompt.count("<passage ") == 2
        assert all(t in prompt for _, t in titles(first)) and "اليونان" not in prompt
        for story in (second, third):
            assert not story.lead.written and story.lead.text == story.lead.citations[0].quote
    finally:
        fake.stop()
