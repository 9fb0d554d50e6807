"""The `rawi` command as a user runs it: a separate process per command."""

import json
from pathlib import Path

import pytest

from retrieval.store.chunks import Store
from retrieval.store.clients import DataDirLock, embedded_client
from tests.auxil.helpers import GAZA_REPORTS, run, shared_path
from tests.auxil.helpers import rawi as run_rawi


def rawi(*args: str, data_dir: Path, check: bool = True, env: dict[str, str] | None = None):
    proc = run_rawi(*args, data_dir=data_dir, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"rawi {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def chunk_spans(data_dir: Path, embedder) -> dict[str, list[tuple[int, int, int]]]:
    store = Store(embedded_client(data_dir), embedder)
    spans: dict[str, list[tuple[int, int, int]]] = {}
    for _, _, meta in store.iter_chunks():
        spans.setdefault(meta["article_id"], []).append(
            (meta["paragraph"], meta["start"], meta["end"])
        )
    store.close()
    return {k: sorted(v) for k, v in spans.items()}


@pytest.mark.slow
def test_ingest_list_export_import_round_trip(tmp_path: Path, embedder) -> None:
    seed = shared_path("seed")
    zip_path = shared_path("saudinewsnet", "2015-07-23.zip")
    (tmp_path / "extra.txt").write_text("A short English note\n\nIt has one paragraph.")
    a = tmp_path / "a"
    out = rawi("ingest", str(seed), str(tmp_path / "extra.txt"), "--json", data_dir=a)
    report = json.loads(out.stdout)
    assert len(report["added"]) == 2 and report["failed"] == []
    assert "ingesting" in out.stderr  # the progress bar goes to standard error

    again = json.loads(rawi("ingest", str(seed), "--json", data_dir=a).stdout)
    assert len(again["unchanged"]) == 1 and again["added"] == again["updated"] == []
    assert again["unchanged"][0] in report["added"]

    listed = [
        json.loads(line) for line in rawi("articles", "--json", data_dir=a).stdout.splitlines()
    ]
    assert {x["id"] for x in listed} == set(report["added"])
    founding = next(x for x in listed if x["title"].startswith("يعود بلينكن"))
    assert founding["paragraphs"] == 2 and founding["language"] == "ar"

    export = tmp_path / "backup.jsonl"
    rawi("export", str(export), data_dir=a)
    assert len(export.read_text().splitlines()) == 2
    b = tmp_path / "b"
    rawi("import", str(export), data_dir=b)
    listed_b = [
        json.loads(line) for line in rawi("articles", "--json", data_dir=b).stdout.splitlines()
    ]
    assert listed_b == listed
    spans = chunk_spans(a, embedder)
    assert len(spans) == 2 and spans == chunk_spans(b, embedder)

    # A whole SaudiNewsNet archive, as it is; the empty items are reported, not fatal.
    res = rawi("ingest", str(zip_path), data_dir=b, check=False)
    assert "failed" in res.stderr and "no text" in res.stderr
    assert res.returncode == 1 and "item(s) were not added" in res.stderr  # partial: not 0
    assert " added" in res.stdout

    removed = rawi("remove", founding["id"], "no-such-id", data_dir=b, check=False)
    assert removed.returncode == 1 and "no article with id no-such-id" in removed.stderr
    ids_b = {
        json.loads(x)["id"] for x in rawi("articles", "--json", data_dir=b).stdout.splitlines()
    }
    assert founding["id"] not in ids_b


def test_a_second_process_is_refused_by_the_lock(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        proc = rawi("articles", data_dir=tmp_path, check=False)
    finally:
        lock.release()
    assert proc.returncode == 1
    assert "in use by another rawi process" in proc.stderr
    assert "Chroma server" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert rawi("articles", data_dir=tmp_path).returncode == 0  # free again


def test_bad_settings_are_reported_without_a_traceback(tmp_path: Path) -> None:
    proc = rawi("articles", data_dir=tmp_path, check=False, env={"RAWI_SERCH__K": "3"})
    assert proc.returncode == 2
    assert "RAWI_SERCH__K" in proc.stderr and "Traceback" not in proc.stderr


def test_an_embedding_device_that_is_not_there_is_a_plain_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = rawi("articles", data_dir=tmp_path, check=False, env={"RAWI_EMBEDDING__DEVICE": "cuda"})
    assert proc.returncode == 2
    assert "embedding.device" in proc.stderr and "no CUDA device" in proc.stderr
    assert "Traceback" not in proc.stderr
    # the default, auto, runs on the CPU here
    assert rawi("articles", data_dir=tmp_path).returncode == 0


@pytest.mark.slow
def test_make_run_on_a_fresh_data_dir_then_chat_piped(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    first = run(["make", "-s", "run"], fresh, stdin="متى تفتح المكتبة الجديدة أبوابها؟\n")
    assert first.returncode == 0, first.stderr
    assert "sample articles" in first.stderr  # the sample corpus went in, once
    assert "[1]" in first.stdout and "مكتبة الميناء" in first.stdout
    assert "التاسعة صباحًا" in first.stdout  # the sentence with the opening hours is quoted

    questions = (
        "Who saved two penalties in the cup final?\n"
        "And when will the team parade?\n"
        "Who won the 2022 Nobel Prize in Physics?\n"
    )
    proc = run_rawi("chat", "--json", data_dir=fresh, stdin=questions)
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == 3
    assert "Yousef Amin" in answers[0]["answer"] and answers[0]["citations"]
    assert answers[1]["grounded"] and "Sunday" in answers[1]["answer"]  # the follow-up
    assert not answers[2]["grounded"] and answers[2]["citations"] == []
    assert "sample articles" not in proc.stderr  # not ingested a second time


@pytest.mark.slow
def test_dates_and_outlets_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "d"
    rawi("ingest", str(GAZA_REPORTS), data_dir=data)

    def ask(question: str, *flags: str) -> dict:
        return json.loads(rawi("ask", "--json", *flags, question, data_dir=data).stdout)

    latest = ask("What is the latest death toll in Gaza?", "--as-of", "2023-11-10")
    first = latest["citations"][0]
    assert first["published"].startswith("2023-11-06") and first["outlet"] == "The New Arab"
    assert latest["answer"].startswith("According to the coverage: 6 November 2023, The New Arab:")
    on_day = ask("كم كان عدد القتلى في غزة يوم 25 أكتوبر؟", "--as-of", "2023-11-10")
    assert {c["published"][:10] for c in on_day["citations"]} == {"2023-10-25"}
    okaz = ask("ماذا قالت عكاظ عن القتلى في غزة؟")
    assert {(c["source"], c["outlet"]) for c in okaz["citations"]} == {("okaz", "عكاظ")}
    hits = json.loads(
        rawi(
            "search", "--json", "--as-of", "2023-11-10", "Gaza toll on 2 November", data_dir=data
        ).stdout
    )["hits"]
    assert hits and {h["published"][:10] for h in hits} == {"2023-11-02"}

    batch = tmp_path / "q.jsonl"
    lines = [
        {"id": "y", "question": "How many were killed in Gaza yesterday?", "as_of": "2023-11-07"},
        {"id": "y-ar", "question": "كم عدد القتلى في غزة أمس؟", "as_of": "2023-11-03"},
        {"id": "latest-ar", "question": "ما آخر حصيلة للقتلى في غزة؟", "as_of": "2023-11-10"},
        {"id": "on-en", "question": "Gaza death toll on 25 October 2023?", "as_of": "2023-11-10"},
        {"id": "okaz-en", "question": "What did Okaz report about the dead in Gaza?"},
        {
            "id": "empty",
            "question": "How many were killed in Gaza yesterday?",
            "as_of": "2023-11-10",
        },
        {"id": "bad", "question": "Gaza yesterday", "as_of": "7 Nov"},
        {"id": "surrogate", "question": "Gaza toll \ud83d"},  # half an emoji
    ]
    batch.write_text("\n".join(json.dumps(x) for x in lines))
    out = {
        r["id"]: r
        for r in map(
            json.loads, rawi("ask", "--batch", str(batch), data_dir=data).stdout.split("\n")[:-1]
        )
    }
    assert {c["published"][:10] for c in out["y"]["citations"]} == {"2023-11-06"}
    assert {c["published"][:10] for c in out["y-ar"]["citations"]} == {"2023-11-02"}
    assert out["latest-ar"]["citations"][0]["published"].startswith("2023-11-06")
    assert out["latest-ar"]["citations"][0]["outlet"] == "العربي الجديد"
    assert {c["published"][:10] for c in out["on-en"]["citations"]} == {"2023-10-25"}
    assert {c["outlet"] for c in out["okaz-en"]["citations"]} == {"Okaz"}
    assert out["empty"]["kind"] == "not_in_coverage" and "6 November 2023" in out["empty"]["answer"]
    assert "YYYY-MM-DD" in out["bad"]["error"]
    assert "error" not in out["surrogate"] and out["surrogate"]["answer"]
    bad = rawi("ask", "--as-of", "yesterday", "Gaza", data_dir=data, check=False)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_reindex_gives_an_old_store_its_dates_without_re_embedding(
    tmp_path: Path, embedder
) -> None:
    data = tmp_path / "d"
    rawi("ingest", str(GAZA_REPORTS), data_dir=data)
    # the store as the previous version wrote it: schema 2, no day or outlet per chunk
    store = Store(embedded_client(data), embedder)
    chunks = store.chunks
    before = chunks.get(include=["embeddings", "metadatas"])
    chunks.update(ids=before["ids"], metadatas=[{"day": None, "source": None}] * len(before["ids"]))
    store.catalogue.set_meta({**store.catalogue.meta(), "schema": 2})
    store.close()

    refused = rawi("ask", "ماذا قالت عكاظ عن القتلى في غزة؟", data_dir=data, check=False)
    assert refused.returncode != 0 and "rawi reindex" in refused.stderr
    assert "nothing is re-embedded" in refused.stderr and "Traceback" not in refused.stderr
    done = rawi("reindex", data_dir=data)
    assert f"{len(before['ids'])} passages given their report's date and outlet" in done.stdout

    okaz = json.loads(
        rawi("ask", "--json", "ماذا قالت عكاظ عن القتلى في غزة؟", data_dir=data).stdout
    )
    assert okaz["grounded"] and {c["source"] for c in okaz["citations"]} == {"okaz"}
    store = Store(embedded_client(data), embedder)
    after = store.chunks.get(ids=before["ids"], include=["embeddings", "metadatas"])
    store.close()
    assert after["ids"] == before["ids"]
    assert (after["embeddings"] == before["embeddings"]).all()  # nothing re-embedded
    assert {m["day"] for m in after["metadatas"]} == {20231025, 20231102, 20231106}
