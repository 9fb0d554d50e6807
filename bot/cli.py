"""The ``rawi`` command line."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.args import parser
from bot.commands import COMMANDS, EXIT_FAILED, EXIT_USAGE, CliError
from bot.compose import Parts
from bot.control import BESIDE_THE_BOT, NotRunning, run_in_bot
from config.settings import Settings, SettingsError, load_settings
from retrieval.store.clients import DataDirLock, StoreError, is_unavailable


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.log_level:
        overrides["log_level"] = args.log_level
    emb = {k: v for k, v in (("model", args.model), ("dtype", args.dtype)) if v}
    if emb:
        overrides["embedding"] = emb
    chroma = {k: v for k, v in (("host", args.chroma_host), ("port", args.chroma_port)) if v}
    if chroma:
        overrides["chroma"] = chroma
    hook = {
        k: v
        for k, v in (
            ("webhook_url", getattr(args, "webhook_url", None)),
            ("webhook_listen", getattr(args, "listen", None)),
            ("webhook_port", getattr(args, "port", None)),
        )
        if v
    }
    if hook:
        overrides["telegram"] = hook
    return load_settings(overrides, config_file=args.config)


@contextmanager
def _errors_reported() -> Iterator[None]:
    try:
        yield
    except (SettingsError, StoreError, CliError) as exc:
        print(f"rawi: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE if isinstance(exc, SettingsError) else EXIT_FAILED) from None
    except BrokenPipeError:  # `rawi articles | head`
        sys.stderr.close()
        raise SystemExit(0) from None
    except ConnectionError as exc:  # the bot went away mid-command
        print(f"rawi: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        print(f"rawi: the Chroma server could not be reached ({exc}); run the command again "
              "once it is back", file=sys.stderr)  # fmt: skip
        raise SystemExit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        print(
            "rawi: interrupted; what was committed stays (an ingest run again continues "
            "where it stopped)",
            file=sys.stderr,
        )
        raise SystemExit(130) from None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else argv
    # what rawi writes (store, chat state, keys, exports, backups) is its owner's only
    os.umask(0o077)
    args = parser().parse_args(argv)
    if args.command != "serve":  # serve stops gracefully on its own
        signal.signal(signal.SIGTERM, _interrupt)
    with _errors_reported():
        settings = settings_from_args(args)
        from bot.compose import redact_secrets, setup_logging

        setup_logging(settings.log_level)
        redact_secrets(
            [
                secret.get_secret_value()
                for secret in (
                    settings.telegram.token,
                    settings.telegram.webhook_secret,
                    settings.llm.api_key,
                )
                if secret is not None
            ]
        )
        if (
            args.command in BESIDE_THE_BOT
            and not settings.chroma.host
            and DataDirLock(settings.data_dir).held()
        ):
            # a bot is serving this data dir: it runs the command
            with contextlib.suppress(NotRunning):
                return run_in_bot(settings.data_dir, argv)
        app = Parts(settings)
        try:
            return COMMANDS[args.command](app, args)
        finally:
            app.close()


if __name__ == "__main__":
    sys.exit(main())
