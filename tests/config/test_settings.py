import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from config.settings import DEFAULTS_FILE, SettingsError, known_env_names, load_settings

EXAMPLE_ENV = DEFAULTS_FILE.with_name("example.env")


def test_defaults_come_from_the_file() -> None:
    s = load_settings()
    assert s.embedding.model == "bundled:multilingual-e5-small"
    assert s.embedding.dtype == "auto"
    assert s.embedding.device == "auto"
    assert s.answerer == "extractive"
    assert s.telegram.rate_limit_per_minute == 20
    assert s.telegram.max_question_chars == 1000
    assert s.telegram.token is None
    assert s.chroma.host is None


def test_every_search_setting_reaches_the_searcher() -> None:
    """The tuned values live in the defaults file only: the composition root hands
    each of them to the searcher."""
    from bot.compose import search_params
    from retrieval.search import SearchParams

    search = tomllib.loads(DEFAULTS_FILE.read_text())["search"]
    names = {f.name for f in fields(SearchParams)}
    assert set(search) - names == {"k"}  # hits returned: the caller's choice
    params = search_params(load_settings())
    assert {name: getattr(params, name) for name in names & set(search)} == {
        name: search[name] for name in names & set(search)
    }


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAWI_EMBEDDING__DTYPE", "fp32")
    monkeypatch.setenv("RAWI_CHROMA__HOST", "10.1.2.3")
    monkeypatch.setenv("RAWI_CHROMA__PORT", "9001")
    s = load_settings()
    assert s.embedding.dtype == "fp32"
    assert (s.chroma.host, s.chroma.port) == ("10.1.2.3", 9001)
    assert s.embedding.batch_size == 32  # the rest of the section stays


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAWI_EMBEDDING__DTYPE", "fp32")
    s = load_settings({"embedding": {"dtype": "bf16"}})
    assert s.embedding.dtype == "bf16"


def test_the_embedding_device_is_auto_cpu_or_cuda() -> None:
    assert load_settings({"embedding": {"device": "cuda:1"}}).embedding.device == "cuda:1"
    with pytest.raises(SettingsError, match="device"):
        load_settings({"embedding": {"device": "gpu"}})


def test_admin_ids_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAWI_TELEGRAM__ADMIN_IDS", "12, 34,56")
    monkeypatch.setenv("RAWI_TELEGRAM__CHANNELS", "@news,@sport")
    s = load_settings()
    assert s.telegram.admin_ids == [12, 34, 56]
    assert s.telegram.channels == ["@news", "@sport"]


def test_bad_admin_id_is_an_error_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAWI_TELEGRAM__ADMIN_IDS", "12,abc")
    with pytest.raises(SettingsError, match="admin_ids"):
        load_settings()


def test_unknown_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAWI_EMBEDDING__MODLE", "x")
    with pytest.raises(SettingsError, match="RAWI_EMBEDDING__MODLE"):
        load_settings()


def test_unknown_key_in_a_file_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "rawi.toml"
    cfg.write_text("[search]\nthreshhold = 0.3\n")
    with pytest.raises(SettingsError, match=r"search\.threshhold"):
        load_settings(config_file=cfg)


def test_a_settings_file_overrides_the_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "rawi.toml"
    cfg.write_text("[search]\nk = 9\n")
    assert load_settings(config_file=cfg).search.k == 9


def test_secrets_are_refused_in_files(tmp_path: Path) -> None:
    cfg = tmp_path / "rawi.toml"
    cfg.write_text('[telegram]\ntoken = "123:abc"\n')
    with pytest.raises(SettingsError, match="secret"):
        load_settings(config_file=cfg)


def test_plain_secret_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    s = load_settings()
    assert s.telegram.token is not None and s.telegram.token.get_secret_value() == "123:abc"
    assert s.llm.api_key is not None and s.llm.api_key.get_secret_value() == "sk-test"
    assert "123:abc" not in repr(s)
    monkeypatch.setenv("RAWI_TELEGRAM__TOKEN", "999:xyz")
    token = load_settings().telegram.token
    assert token is not None and token.get_secret_value() == "999:xyz"


def test_example_env_lists_every_variable() -> None:
    listed = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in EXAMPLE_ENV.read_text().splitlines()
        if "=" in line and line.lstrip("# ").startswith(("RAWI_", "TELEGRAM_", "OPENAI_"))
    }
    missing = known_env_names() - listed
    assert not missing, f"example.env lacks {sorted(missing)}"
    assert {"TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY"} <= listed


def test_outlets_named_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAWI_OUTLETS__OKAZ__EN", "Ukaz")
    monkeypatch.setenv("RAWI_OUTLETS__NEWSROOM__AR", "غرفتنا")
    outlets = load_settings().outlets
    assert outlets["okaz"].en == "Ukaz" and outlets["okaz"].ar == "عكاظ"  # merged with the file
    assert outlets["newsroom"].ar == "غرفتنا"
    monkeypatch.setenv("RAWI_OUTLET__OKAZ__EN", "x")  # a typo is still an error
    with pytest.raises(SettingsError, match="RAWI_OUTLET__OKAZ__EN"):
        load_settings()
