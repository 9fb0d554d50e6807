"""Prompt templates, kept as data: one TOML file per prompt, an Arabic and an
English version of each, with the variables it takes declared in the file.

Loading checks every template against its declaration: a template that uses an
undeclared variable, or leaves a declared one out, is an error at load time, not
a silently wrong prompt at answer time.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

# What the model says when the evidence does not answer the question. One constant,
# used by the prompts (as a variable), by the code that reads replies, and by tests.
CANNOT_ANSWER = "NOT_IN_COVERAGE"

LANGUAGES = ("en", "ar")
PARTS = ("system", "user")


class PromptError(ValueError):
    """A prompt file is malformed or does not match its declared variables."""


@dataclass(frozen=True)
class Prompt:
    name: str
    variables: frozenset[str]
    templates: dict[str, dict[str, str]]  # language -> part -> template

    def render(self, language: str, **values: str) -> tuple[str, str]:
        """(system, user) in ``language`` (English for anything but Arabic)."""
        missing = self.variables - values.keys()
        extra = values.keys() - self.variables
        if missing or extra:
            raise PromptError(
                f"prompt {self.name}: missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        parts = self.templates["ar" if language == "ar" else "en"]
        return parts["system"].format(**values), parts["user"].format(**values)


def fields(template: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise PromptError(f"bad template: {exc}") from exc


def parse(name: str, text: str) -> Prompt:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"prompt {name}: {exc}") from exc
    declared = data.get("variables")
    if not isinstance(declared, list) or not all(isinstance(v, str) for v in declared):
        raise PromptError(f"prompt {name}: 'variables' must be a list of names")
    variables = frozenset(declared)
    templates: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        section = data.get(lang)
        if not isinstance(section, dict) or set(section) != set(PARTS):
            raise PromptError(f"prompt {name}: [{lang}] must have exactly {list(PARTS)}")
        used: set[str] = set()
        for part in PARTS:
            found = fields(section[part])
            unknown = found - variables
            if unknown:
                raise PromptError(
                    f"prompt {name} [{lang}].{part} uses undeclared {sorted(unknown)}"
                )
            used |= found
        if used != variables:
            raise PromptError(f"prompt {name} [{lang}] never uses {sorted(variables - used)}")
        templates[lang] = dict(section)
    return Prompt(name, variables, templates)


@cache
def load(name: str) -> Prompt:
    """A prompt shipped with rawi, by file name without ``.toml``."""
    path = resources.files(__package__).joinpath(f"{name}.toml")
    if not path.is_file():
        raise PromptError(f"no prompt named {name}")
    return parse(name, path.read_text(encoding="utf-8"))


NAMES = ("answer", "condense", "digest")
