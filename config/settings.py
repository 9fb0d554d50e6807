"""rawi's settings: one model, defaults in ``config/default.toml``.

Precedence, highest first: command-line flags, ``RAWI_*`` environment variables
(nested with ``__``), an optional settings file given with ``--config``, then
the defaults file. Secrets (the bot token, the LLM API key) come only from the
environment. Unknown keys, in a file or among ``RAWI_*`` variables, are errors.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULTS_FILE = Path(__file__).with_name("default.toml")
ENV_PREFIX = "RAWI_"
SECRET_ALIASES = {"TELEGRAM_BOT_TOKEN": ("telegram", "token"), "OPENAI_API_KEY": ("llm", "api_key")}


class SettingsError(ValueError):
    """The settings are invalid; the message names the offending key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int):
        return [value]
    return value


class EmbeddingSettings(Section):
    model: str = Field(
        description="sentence-transformers model name or path; the default is the bundled "
        "multilingual-e5-small"
    )
    dtype: Literal["auto", "bf16", "fp32"] = Field(description="bf16 where the CPU has it")
    device: str = Field(
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
        description="where passages are embedded: auto (CUDA where torch finds it), cpu, cuda[:N]",
    )
    batch_size: int = Field(gt=0, description="texts per forward pass")
    max_chunk_tokens: int = Field(ge=16, le=512, description="longest citable chunk, in tokens")


class ChromaSettings(Section):
    host: str | None = Field(default=None, description="Chroma server; unset = embedded store")
    port: int = Field(default=8000, gt=0, lt=65536, description="Chroma server port")
    ssl: bool = Field(default=False, description="use https for the Chroma server")
    follow_interval: float = Field(
        default=10.0,
        gt=0,
        description="seconds within which the bot sees articles other processes add or remove",
    )


class SearchSettings(Section):
    k: int = Field(gt=0, le=100, description="hits returned by default")
    dense_weight: float = Field(ge=0, le=1, description="weight of the dense score in fusion")
    threshold: float = Field(
        ge=0, le=1, description="below this fused score: no answer (in a store of 10,000 chunks)"
    )
    cross_threshold: float = Field(
        ge=0, le=1, description="the same, for a question in another script than the passage"
    )
    threshold_per_decade: float = Field(
        ge=0, le=0.5, description="how much both thresholds rise per tenfold more chunks"
    )
    cosine_floor: float = Field(ge=-1, le=1, description="cosine mapped to a dense score of 0")
    cosine_ceil: float = Field(ge=-1, le=1, description="cosine mapped to a dense score of 1")
    cross_floor: float = Field(ge=-1, le=1, description="the same, across scripts")
    cross_ceil: float = Field(ge=-1, le=1, description="the same, across scripts")
    sentence_weight: float = Field(
        ge=0, le=1, description="share of a chunk's dense score taken from its best sentence"
    )
    latest_margin: float = Field(
        ge=0,
        le=1,
        description="for 'the latest': how far below the best passage's score a newer"
        " report may score and still come first",
    )


class OutletSettings(Section):
    ar: str = Field(default="", description="the outlet's name in Arabic answers")
    en: str = Field(default="", description="the outlet's name in English answers")
    aliases: list[str] = Field(
        default_factory=list, description="other names readers use, read anywhere in a question"
    )
    cued: list[str] = Field(
        default_factory=list,
        description="names that are also common words (الرياض), read only after"
        " 'صحيفة', 'جريدة', 'newspaper'... (the id, ar and en names are read so too)",
    )
    not_after: list[str] = Field(
        default_factory=list,
        description="words after which a name means something else (سوق عكاظ, the market)",
    )


class ConversationSettings(Section):
    followup_minutes: float = Field(
        ge=0,
        description="a question follows on from the same reader's previous one only within"
        " this many minutes",
    )


class TelegramSettings(Section):
    token: SecretStr | None = Field(default=None, description="bot token (environment only)")
    api_url: str = Field(description="Bot API base URL; the token is appended")
    admin_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="admin user ids"
    )
    channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="channels whose posts become articles"
    )
    rate_limit_per_minute: int = Field(gt=0, description="questions per user per minute")
    max_question_chars: int = Field(gt=0, description="longest question accepted")
    retention_days: int = Field(gt=0, description="how long questions are kept")
    webhook_url: str | None = Field(
        default=None, description="public HTTPS URL for webhook mode; unset = long polling"
    )
    webhook_listen: str = Field(description="address the webhook server listens on")
    webhook_port: int = Field(gt=0, lt=65536, description="port the webhook server listens on")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="secret Telegram sends with every webhook request (environment only; "
        "generated per run when unset)",
    )
    max_document_bytes: int = Field(gt=0, description="largest document /add accepts, in bytes")
    shutdown_grace: float = Field(
        ge=0, description="seconds to finish answers in flight when asked to stop"
    )

    _split = field_validator("admin_ids", "channels", mode="before")(_split_csv)


class InlineSettings(Section):
    cache_seconds: float = Field(
        ge=0, description="seconds an inline answer is kept for the same question (0: not kept)"
    )
    min_chars: int = Field(ge=1, description="shortest inline query searched; shorter get a hint")


class FetchSettings(Section):
    allow_private: bool = Field(
        description="let /add URL fetch loopback and private addresses (off: public only)"
    )
    timeout: float = Field(gt=0, description="seconds to wait for a page")
    max_bytes: int = Field(gt=0, description="largest page fetched, in bytes")
    max_redirects: int = Field(ge=0, le=20, description="redirects followed")


class FeedsSettings(Section):
    poll_interval: float = Field(
        ge=10, description="seconds between two polls of the feeds (RSS, Atom, sitemaps)"
    )
    max_items: int = Field(
        gt=0,
        description="pages fetched per feed and poll: new or changed items, then rechecks; "
        "the rest wait",
    )
    forget_days: float = Field(
        ge=0, description="days an item may be absent from its feed before it is forgotten"
    )
    recheck_days: float = Field(
        ge=0, description="days after it came that an item's page is asked again (0: never)"
    )
    recheck_hours: float = Field(gt=0, description="hours between two asks of a recent item's page")


class FollowsSettings(Section):
    interval: float = Field(
        gt=0, description="seconds between looks for new articles that answer readers' follows"
    )
    per_day: int = Field(gt=0, description="most messages a follow sends in 24 hours")
    max_per_reader: int = Field(gt=0, description="most topics one reader follows in a chat")


class LLMSettings(Section):
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint")
    model: str | None = Field(default=None, description="model name at the endpoint")
    api_key: SecretStr | None = Field(default=None, description="API key (environment only)")
    temperature: float = Field(ge=0, le=2, description="sampling temperature")
    timeout: float = Field(gt=0, description="seconds per request")
    max_tokens: int = Field(gt=0, description="longest answer, in tokens")
    max_retries: int = Field(
        ge=0, le=5, description="retries of a failed request (timeouts, 429, 5xx), with backoff"
    )


class DigestSettings(Section):
    timezone: str = Field(description="the newsroom's time zone (IANA name)")
    check_interval: float = Field(gt=0, description="seconds between looks at the clock")
    stories: int = Field(gt=0, le=50, description="stories in a digest, most covered first")
    threshold: float = Field(
        gt=0, lt=1, description="lead-chunk cosine above which reports tell one story"
    )
    previous_day: bool = Field(description="tell the day before (a morning digest)")
    language: Literal["ar", "en"] = Field(description="the digest's language by default")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("rawi")),
        description="everything the store and the bot write",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("rawi")),
        description="the prepared embedding model, shared by every data dir",
    )
    log_level: str = Field(description="logging level")
    answerer: Literal["extractive", "llm"] = Field(description="how answers are written")
    embedding: EmbeddingSettings
    chroma: ChromaSettings
    search: SearchSettings
    conversation: ConversationSettings
    telegram: TelegramSettings
    inline: InlineSettings
    fetch: FetchSettings
    feeds: FeedsSettings
    follows: FollowsSettings
    llm: LLMSettings
    digest: DigestSettings
    outlets: dict[str, OutletSettings] = Field(
        default_factory=dict,
        description="display names and aliases of the outlets, by the store's source id",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (the constructor's arguments), then the environment, then the
        plain secret aliases, then the settings files (a ``--config`` file over
        the defaults file)."""
        return (
            init_settings,
            env_settings,
            _SecretAliases(settings_cls),
            _Files(settings_cls, toml_file=list(_FILES.get()), deep_merge=True),
        )


# The settings files of the settings being built: the defaults, then --config's.
_FILES: ContextVar[tuple[Path, ...]] = ContextVar("settings_files", default=(DEFAULTS_FILE,))
SECRET_KEYS = {*SECRET_ALIASES.values(), ("telegram", "webhook_secret")}


class _Files(TomlConfigSettingsSource):
    """TOML settings files, read as pydantic-settings does, but a secret in one is
    an error that names the file."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{file_path}: {exc}") from exc
        for section, key in SECRET_KEYS:
            if key in data.get(section, {}):
                raise SettingsError(
                    f"{file_path}: {section}.{key} is a secret; set it in the environment instead"
                )
        return data


class _SecretAliases(PydanticBaseSettingsSource):
    """``TELEGRAM_BOT_TOKEN`` and ``OPENAI_API_KEY``, the names the libraries
    themselves read, rank just below their ``RAWI_`` names."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for alias, (section, key) in SECRET_ALIASES.items():
            if os.environ.get(alias):
                out.setdefault(section, {})[key] = os.environ[alias]
        return out


def known_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub in annotation.model_fields:
                names.add(f"{ENV_PREFIX}{name}__{sub}".upper())
        else:
            names.add(f"{ENV_PREFIX}{name}".upper())
    return names


def _check_env(environ: dict[str, str]) -> None:
    known = known_env_names()
    # a table of entries keyed by name (RAWI_OUTLETS__OKAZ__EN)
    tables = tuple(
        f"{ENV_PREFIX}{name}__".upper()
        for name, field in Settings.model_fields.items()
        if getattr(field.annotation, "__origin__", None) is dict
    )
    unknown = sorted(
        k
        for k in environ
        if k.upper().startswith(ENV_PREFIX)
        and k.upper() not in known
        and not k.upper().startswith(tables)
    )
    if unknown:
        raise SettingsError(
            "unknown setting in the environment: "
            + ", ".join(unknown)
            + " (see config/example.env for the list)"
        )


def load_settings(
    overrides: dict[str, Any] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build the settings from the defaults file, a settings file, the environment
    and ``overrides`` (nested dicts, e.g. from command-line flags)."""
    from pydantic import ValidationError

    _check_env(dict(os.environ))
    files: tuple[Path, ...] = (DEFAULTS_FILE,)
    if config_file is not None:
        if not config_file.is_file():
            raise SettingsError(f"settings file not found: {config_file}")
        files = (DEFAULTS_FILE, config_file)
    token = _FILES.set(files)
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc
    finally:
        _FILES.reset(token)


def _describe(exc: Any) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting: {where}")
        else:
            lines.append(f"{where}: {err['msg']}")
    return "invalid settings: " + "; ".join(lines)
