"""The production setup in ``deploy/``: the systemd unit, the container image and
the compose file are checked as their tools read them, and against the project
itself (its settings, its pins, its packages).

Run for real where the tools exist: ``systemd-analyze verify`` and ``security``
on the unit (a missing ``systemd-analyze`` skips, and fails under ``CI=true``),
the Compose specification's JSON schema (shipped by the check-jsonschema dev
dependency) on the compose file, and ``docker compose config`` where the compose
plugin is installed. The image itself is not built here: that needs a Docker
daemon and several minutes.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import ENV_PREFIX, SECRET_ALIASES, Settings, known_env_names, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "rawi.service"
CONTAINERFILE = DEPLOY / "Containerfile"
COMPOSE = DEPLOY / "compose.yaml"
EXAMPLE_ENV = ROOT / "config" / "example.env"

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "UMask": "0077",
}
# systemd-analyze security's exposure, times ten (the unit scores 1.5 of 10)
MAX_EXPOSURE = 20


def tool(name: str) -> str:
    """The path of a tool the test needs: skips without it, fails under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def pin(package: str) -> str:
    """The version constraints.txt pins ``package`` to."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name.lower() == package.lower():
            return version
    raise AssertionError(f"constraints.txt does not pin {package}")


def default_shutdown_grace() -> float:
    return load_settings().telegram.shutdown_grace


def check_settings_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Load the settings with ``env`` set, as rawi does: an unknown ``RAWI_*`` name
    or a value the setting refuses is an error."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def is_setting(name: str) -> bool:
    """Whether an environment variable names one of rawi's settings."""
    if name in known_env_names() or name in SECRET_ALIASES:
        return True
    # an entry of a table of settings: RAWI_OUTLETS__OKAZ__EN
    table, _, rest = name.partition("__")
    entry, _, key = rest.partition("__")
    field = Settings.model_fields.get(table.removeprefix(ENV_PREFIX).lower())
    if field is None or getattr(field.annotation, "__origin__", None) is not dict:
        return False
    (value_type,) = field.annotation.__args__[1:]
    return bool(entry) and key.lower() in value_type.model_fields


def test_is_setting_tells_settings_from_the_rest() -> None:
    assert is_setting("RAWI_DATA_DIR")
    assert is_setting("RAWI_CHROMA__HOST")
    assert is_setting("RAWI_OUTLETS__OKAZ__EN")
    assert is_setting("TELEGRAM_BOT_TOKEN")
    assert not is_setting("RAWI_CHROMA__HOSTNAME")
    assert not is_setting("RAWI_DATADIR")
    assert not is_setting("RAWI_OUTLETS__OKAZ__NAME")
    assert not is_setting("RAWI_SEARCH__K__X")


# -- time spans -----------------------------------------------------------
_SYSTEMD_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def systemd_seconds(span: str) -> float:
    """A systemd time span ("30s", "1min 30s", "90") in seconds."""
    span = span.strip()
    if re.fullmatch(r"\d+(\.\d+)?", span):
        return float(span)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", span)
    if not parts or re.sub(r"[\d.\sa-z]", "", span):
        raise ValueError(f"not a time span: {span!r}")
    return sum(float(n) * _SYSTEMD_UNITS[unit] for n, unit in parts)


def go_seconds(duration: str) -> float:
    """A Go duration ("30s", "1m30s"), as Compose reads them, in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(n) * _GO_UNITS[unit] for n, unit in parts)


def test_time_span_readers() -> None:
    assert systemd_seconds("30s") == 30
    assert systemd_seconds("1min 30s") == 90
    assert systemd_seconds("15") == 15
    assert go_seconds("1m30s") == 90
    assert go_seconds("180s") == 180
    for bad in ("soon", "30 s", "s"):
        with pytest.raises(ValueError):
            go_seconds(bad)
    with pytest.raises(ValueError):
        systemd_seconds("soon!")


# -- the systemd unit -----------------------------------------------------
def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file as systemd reads it: sections of ``Key=value`` lines, keys
    repeatable (Environment=), ``#``/``;`` comments, backslash continuations."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"not a unit line: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def one(section: list[tuple[str, str]], key: str) -> str:
    found = values(section, key)
    assert len(found) == 1, f"{key}= is set {len(found)} times"
    return found[0]


def unit_environment(service: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in values(service, "Environment"):
        for assignment in shlex.split(line):
            name, _, value = assignment.partition("=")
            env[name] = value
    return env


@pytest.fixture(scope="module")
def unit() -> dict[str, list[tuple[str, str]]]:
    return parse_unit(UNIT.read_text())


def test_unit_runs_rawi_serve_as_a_dedicated_user(unit) -> None:
    service = unit["Service"]
    assert one(service, "User") == "rawi"
    assert one(service, "Group") == "rawi"
    argv = shlex.split(one(service, "ExecStart"))
    assert Path(argv[0]).is_absolute() and Path(argv[0]).name == "rawi"
    assert argv[1:] == ["serve"]
    # a missing settings file must stop the start ("-" would make it optional)
    assert one(service, "EnvironmentFile") == "/etc/rawi/rawi.env"
    assert unit["Install"] == [("WantedBy", "multi-user.target")]


def test_unit_restarts_on_failure_within_limits(unit) -> None:
    service = unit["Service"]
    assert one(service, "Restart") == "on-failure"
    assert systemd_seconds(one(service, "RestartSec")) >= 1
    assert int(one(unit["Unit"], "StartLimitBurst")) >= 1
    # the start limit must outlast the restarts it counts
    burst = int(one(unit["Unit"], "StartLimitBurst"))
    interval = systemd_seconds(one(unit["Unit"], "StartLimitIntervalSec"))
    assert interval > burst * systemd_seconds(one(service, "RestartSec"))


def test_unit_waits_longer_than_the_bot_takes_to_stop(unit) -> None:
    stop = systemd_seconds(one(unit["Service"], "TimeoutStopSec"))
    assert stop > default_shutdown_grace()


def test_unit_data_dir_is_the_state_directory(unit, monkeypatch) -> None:
    service = unit["Service"]
    env = unit_environment(service)
    assert env["RAWI_DATA_DIR"] == "/var/lib/" + one(service, "StateDirectory")
    assert env["RAWI_CACHE_DIR"] == "/var/cache/" + one(service, "CacheDirectory")
    writable = " ".join(values(service, "ReadWritePaths")).split()
    assert {env["RAWI_DATA_DIR"], env["RAWI_CACHE_DIR"]} <= set(writable)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    rawi_env = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    settings = check_settings_env(rawi_env, monkeypatch)
    assert settings.data_dir == Path("/var/lib/rawi")


def test_unit_is_hardened(unit) -> None:
    service = unit["Service"]
    assert {key: one(service, key) for key in HARDENING} == HARDENING


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` on the unit. verify checks that ExecStart's
    program exists and is executable, and the install path (/opt/rawi/.venv)
    does not exist here: the unit is verified from a temporary dir with ExecStart
    pointing at a stub script there, so everything else is verified as written."""
    analyze = tool("systemd-analyze")
    stub = tmp_path / "rawi"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    service = parse_unit(unit_text)["Service"]
    program = shlex.split(one(service, "ExecStart"))[0]
    copy = tmp_path / "rawi.service"
    copy.write_text(unit_text.replace(f"ExecStart={program}", f"ExecStart={stub}"))
    return subprocess.run(
        [analyze, "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    proc = verify(UNIT.read_text(), tmp_path)
    # verify exits 0 on an unknown key or a bad value too: it only warns, on stderr
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_verify_catches_a_misspelt_key(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key and an unreadable value are reported."""
    text = UNIT.read_text()
    broken = text.replace("\nRestart=on-failure", "\nRestartt=on-failure")
    broken = broken.replace("\nRestartSec=", "\nRestartSec=soon#")
    assert broken.count("Restartt=") == 1 and "soon#" in broken
    proc = verify(broken, tmp_path)
    assert "Unknown key" in proc.stderr and "Restartt" in proc.stderr, proc.stderr
    assert "RestartSec" in proc.stderr or "soon" in proc.stderr, proc.stderr


def test_unit_exposure_stays_low(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    copy = tmp_path / "rawi.service"
    shutil.copy(UNIT, copy)
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", f"--threshold={MAX_EXPOSURE}", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    overall = re.search(r"Overall exposure level for rawi.service: ([\d.]+)", proc.stdout)
    assert overall is not None, proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exposure {overall.group(1)} over {MAX_EXPOSURE / 10}"


# -- the container image --------------------------------------------------
def parse_containerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comment lines
    (also those inside a continued instruction) dropped, as the builder does."""
    instructions: list[tuple[str, str]] = []
    pending: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        line = " ".join([*pending, stripped]).strip()
        pending = []
        if not line:
            continue
        word, _, args = line.partition(" ")
        instructions.append((word.upper(), args.strip()))
    assert not pending, "the last instruction ends in a continuation"
    return instructions


def exec_form(args: str) -> list[str]:
    """A command in exec form (JSON array) or shell form, as a list of words."""
    if args.startswith("["):
        words = json.loads(args)
        assert isinstance(words, list) and all(isinstance(w, str) for w in words)
        return words
    return shlex.split(args)


def strip_flags(args: str) -> tuple[dict[str, str], str]:
    """``--name=value`` flags in front of an instruction's arguments, and the rest."""
    flags: dict[str, str] = {}
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        args = args.strip()
    return flags, args


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in instructions:
        if word == "ENV":
            for assignment in shlex.split(args):
                name, sep, value = assignment.partition("=")
                assert sep, f"ENV in the old 'ENV name value' form: {args!r}"
                env[name] = value
    return env


@pytest.fixture(scope="module")
def image() -> list[tuple[str, str]]:
    return parse_containerfile(CONTAINERFILE.read_text())


def test_containerfile_parser() -> None:
    parsed = parse_containerfile(
        'FROM x\nRUN a \\\n    # a comment inside\n    && b\n\nCMD ["c", "d"]\n'
    )
    assert parsed == [("FROM", "x"), ("RUN", "a && b"), ("CMD", '["c", "d"]')]
    assert strip_flags("--interval=30s --retries=3 CMD x") == (
        {"interval": "30s", "retries": "3"},
        "CMD x",
    )


def test_image_is_python_311_slim_as_the_project_requires(image) -> None:
    (base,) = [args for word, args in image if word == "FROM"]
    assert base == "python:3.11-slim"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in requires and "<3.12" in requires


def test_image_installs_cpu_torch_before_the_project(image) -> None:
    runs = [args for word, args in image if word == "RUN"]
    torch = [i for i, cmd in enumerate(runs) if "pip install torch==" in cmd]
    project = [
        i for i, cmd in enumerate(runs) if re.search(r"pip install -c constraints\.txt \.", cmd)
    ]
    assert len(torch) == 1 and len(project) == 1, runs
    assert torch[0] < project[0]
    torch_cmd = runs[torch[0]]
    assert f"torch=={pin('torch')} " in torch_cmd + " "
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_cmd
    # the project's own pins apply to everything else it installs
    assert "[dev]" not in runs[project[0]]


def test_image_runs_rawi_serve_as_a_non_root_user(image) -> None:
    users = [args for word, args in image if word == "USER"]
    assert users, "no USER: the bot would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # the user is created in the image, with that id
    created = " ".join(args for word, args in image if word == "RUN")
    assert re.search(rf"useradd .*--uid {user}\b", created) or f"useradd {user}" in created
    (cmd,) = [args for word, args in image if word == "CMD"]
    assert exec_form(cmd) == ["rawi", "serve"]
    last = [word for word, _ in image][-1]
    assert last == "CMD"


def test_image_healthcheck_is_rawi_health(image) -> None:
    (check,) = [args for word, args in image if word == "HEALTHCHECK"]
    flags, rest = strip_flags(check)
    word, _, command = rest.partition(" ")
    assert word == "CMD"
    assert exec_form(command) == ["rawi", "health"]
    assert go_seconds(flags["start-period"]) >= 60  # the first start prepares the model
    assert go_seconds(flags["timeout"]) < go_seconds(flags["interval"])


def test_image_keeps_its_data_in_volumes(image, monkeypatch) -> None:
    env = env_of(image)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    (volume,) = [args for word, args in image if word == "VOLUME"]
    volumes = exec_form(volume)
    assert env["RAWI_DATA_DIR"] in volumes and env["RAWI_CACHE_DIR"] in volumes
    rawi_env = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    check_settings_env(rawi_env, monkeypatch)


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` (relative, with /) out of the build
    context: the last pattern matching the path or one of its parents decides;
    ``*`` stays within a path component, ``**`` crosses them, ``!`` re-includes."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return re.compile(out)

    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        if any(regex(body).fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_matcher() -> None:
    patterns = ["*", "!bot/", "**/__pycache__"]
    assert dockerignore_excludes(".venv", patterns)
    assert dockerignore_excludes(".venv/bin/python", patterns)
    assert not dockerignore_excludes("bot/cli.py", patterns)
    assert dockerignore_excludes("bot/__pycache__/cli.pyc", patterns)
    assert not dockerignore_excludes("x/y", ["x/*/z"])


def test_build_context_leaves_out_venv_data_and_secrets() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv/bin/python", ".git/HEAD", "data/chroma", ".env", "deploy/rawi.env"):
        assert dockerignore_excludes(path, patterns), path
    assert dockerignore_excludes("bot/__pycache__/cli.cpython-311.pyc", patterns)


def test_image_copies_what_pip_install_needs(image) -> None:
    """Every COPY source exists and is in the build context (the repository root,
    less .dockerignore), and together they hold what ``pip install .`` reads."""
    patterns = dockerignore_patterns()
    copied: set[str] = set()
    for word, args in image:
        if word not in ("COPY", "ADD"):
            continue
        flags, rest = strip_flags(args)
        assert word == "COPY" and "from" not in flags, args
        *sources, _dest = exec_form(rest)
        assert sources, args
        for source in sources:
            matches = sorted(ROOT.glob(source.rstrip("/")))
            assert matches, f"COPY {source}: no such file in the repository"
            for match in matches:
                relative = match.relative_to(ROOT).as_posix()
                assert not dockerignore_excludes(relative, patterns), f"{relative} is ignored"
                copied.add(relative)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", "constraints.txt", pyproject["project"]["readme"]}
    needed |= set(pyproject["tool"]["setuptools"]["packages"])
    assert needed <= copied, f"not copied: {sorted(needed - copied)}"


# -- the compose file -----------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def compose_schema() -> dict[str, Any]:
    try:
        vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        message = "check-jsonschema (a dev dependency, `make test` installs it) is missing"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return json.loads((vendor / "compose-spec.json").read_text())


def schema_errors(doc: dict[str, Any]) -> list[str]:
    import jsonschema

    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_compose_file_follows_the_compose_specification(compose) -> None:
    assert schema_errors(compose) == []


def test_schema_check_catches_a_misplaced_key(compose) -> None:
    """The check above can fail: a key Compose does not know is reported."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["bot"]["restart_policy"] = "always"
    assert any("restart_policy" in error for error in schema_errors(broken))


def test_bot_uses_the_chroma_service(compose, monkeypatch) -> None:
    services = compose["services"]
    assert set(services) == {"bot", "chroma"}
    bot, chroma = services["bot"], services["chroma"]
    env = {k: str(v) for k, v in bot["environment"].items()}
    assert env["RAWI_CHROMA__HOST"] == "chroma"
    settings = check_settings_env(env, monkeypatch)
    assert settings.chroma.host == "chroma"
    # the port the Chroma server listens on inside its container (its default)
    assert settings.chroma.port == 8000
    assert "8000" in " ".join(chroma["healthcheck"]["test"])
    assert bot["depends_on"]["chroma"]["condition"] == "service_healthy"


def test_chroma_server_matches_the_pinned_client(compose) -> None:
    image = compose["services"]["chroma"]["image"]
    assert image == f"chromadb/chroma:{pin('chromadb')}"


def test_bot_health_restart_and_stop(compose) -> None:
    bot = compose["services"]["bot"]
    check = bot["healthcheck"]
    assert check["test"] == ["CMD", "rawi", "health"]
    assert go_seconds(check["start_period"]) >= 60
    assert go_seconds(check["timeout"]) < go_seconds(check["interval"])
    for service in compose["services"].values():
        assert service["restart"] in ("unless-stopped", "always", "on-failure")
    assert go_seconds(bot["stop_grace_period"]) > default_shutdown_grace()


def test_bot_is_built_from_the_containerfile_with_its_env_file(compose) -> None:
    bot = compose["services"]["bot"]
    context = (DEPLOY / bot["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / bot["build"]["dockerfile"]).resolve() == CONTAINERFILE
    (env_file,) = bot["env_file"]
    assert env_file["required"] is True
    # the env file holds the token: git and the build context both leave it out
    relative = (DEPLOY / env_file["path"]).relative_to(ROOT).as_posix()
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", relative], check=False
    ).returncode
    assert ignored == 0, f"{relative} is not in .gitignore"
    assert dockerignore_excludes(relative, dockerignore_patterns())


def test_volumes_hold_the_data(compose, image) -> None:
    declared = set(compose["volumes"])
    mounts = {
        name: {v.split(":")[1] for v in service["volumes"]}
        for name, service in compose["services"].items()
    }
    for service in compose["services"].values():
        for volume in service["volumes"]:
            assert volume.split(":")[0] in declared, volume
    env = env_of(image)
    assert {env["RAWI_DATA_DIR"], env["RAWI_CACHE_DIR"]} <= mounts["bot"]
    assert "/data" in mounts["chroma"]  # the Chroma server image's persist path


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """Where the compose plugin is installed (it is optional: the schema check
    above runs everywhere). The file is copied beside an empty env file, which
    it requires, and the context dir is a temporary one: config reads no files
    of the build."""
    docker = shutil.which("docker")
    plugin = docker and subprocess.run(
        [docker, "compose", "version"], capture_output=True, check=False
    )
    if not plugin or plugin.returncode != 0:
        pytest.skip("docker compose is not installed")
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    shutil.copy(COMPOSE, deploy / "compose.yaml")
    (deploy / "rawi.env").write_text("")
    proc = subprocess.run(
        [str(docker), "compose", "-f", str(deploy / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


# -- settings named in the deploy files and the docs ------------------------
def example_env() -> dict[str, str]:
    """The variables config/example.env names, with their example values."""
    listed: dict[str, str] = {}
    for line in EXAMPLE_ENV.read_text().splitlines():
        assignment = line.lstrip("#").strip()
        name, sep, value = assignment.partition("=")
        if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            listed[name] = value
    return listed


def test_example_env_names_only_real_settings(monkeypatch) -> None:
    """The converse of tests/config's check that example.env lists every setting:
    each name it gives is one rawi reads, and each example value loads."""
    listed = example_env()
    assert "RAWI_TELEGRAM__TOKEN" in listed
    unknown = sorted(name for name in listed if not is_setting(name))
    assert not unknown, f"example.env names settings that do not exist: {unknown}"
    check_settings_env({k: v for k, v in listed.items() if v}, monkeypatch)


def test_docs_and_deploy_files_name_only_real_settings() -> None:
    texts = {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for path in (ROOT / "README.md", UNIT, CONTAINERFILE, COMPOSE)
    }
    named = {
        (where, name)
        for where, text in texts.items()
        for name in re.findall(r"\bRAWI_[A-Z0-9_]*[A-Z0-9]", text)
    }
    assert len({name for _, name in named}) > 10
    unknown = sorted((where, name) for where, name in named if not is_setting(name))
    assert not unknown, f"settings that do not exist: {unknown}"


def configuration_table() -> set[str]:
    """The variables the README's Configuration table names, a row's ``..._NAME``
    read in the section of the row's first variable."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    named = set()
    for row in section.splitlines():
        first_cell = row.split("|")[1] if row.startswith("| `RAWI_") else ""
        names = re.findall(r"`(RAWI_[A-Z0-9_]+|\.\.\._[A-Z0-9_]+)`", first_cell)
        for name in names:
            prefix = names[0][: names[0].find("__") + 2]
            named.add(prefix + name[4:] if name.startswith("...") else name)
    return named


def test_the_configuration_table_names_the_newer_features_settings() -> None:
    """Inline mode, feeds, follows and the digest: every setting of theirs is in the
    README's table, not only in its own section."""
    table = configuration_table()
    assert "RAWI_LLM__API_KEY" in table and "RAWI_DATA_DIR" in table
    for section in ("inline", "feeds", "follows", "digest"):
        fields = Settings.model_fields[section].annotation.model_fields  # type: ignore[union-attr]
        missing = {f"{ENV_PREFIX}{section.upper()}__{f.upper()}" for f in fields} - table
        assert not missing, f"the README's Configuration table lacks {sorted(missing)}"
