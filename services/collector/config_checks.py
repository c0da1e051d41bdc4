"""Checking one table of the collector's TOML configuration, key by key.

Every error names the table and the key (`clusters[1] (prod).base_url must be ...`), and carries
the key separately so the single-cluster environment form can name its variable instead.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.settings import SettingsError


class ConfigError(SettingsError):
    """A bad setting; `key` lets the environment form name the variable instead of the key."""

    def __init__(self, where: str, key: str, problem: str) -> None:
        super().__init__(f"{where}.{key} {problem}")
        self.key = key
        self.problem = problem


class Table:
    """One TOML table being validated; every error names the table and the key."""

    def __init__(self, raw: object, where: str, known: frozenset[str]) -> None:
        if not isinstance(raw, Mapping):
            raise SettingsError(f"{where} must be a table")
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingsError(
                f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        self.raw: Mapping[str, Any] = raw
        self.where = where

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.where, key, problem)

    def integer(self, key: str, default: int, minimum: int) -> int:
        value = self.raw.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(key, f"must be a whole number, got {value!r}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def number(self, key: str, default: float, minimum: float, *, strict: bool = False) -> float:
        value = self.raw.get(key, default)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise self.error(key, f"must be a finite number, got {value!r}")
        if value < minimum or (strict and value == minimum):
            bound = "greater than" if strict else "at least"
            raise self.error(key, f"must be {bound} {minimum}, got {value}")
        return float(value)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            what = "is required" if value is None else f"must be a non-empty string, got {value!r}"
            raise self.error(key, what)
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.raw else None

    def uuid(self, key: str, default: uuid.UUID) -> uuid.UUID:
        value = self.raw.get(key, default)
        if isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise self.error(key, f"must be a UUID, got {value!r}") from None

    def url(self, key: str) -> str:
        text = self.text(key).strip().rstrip("/")
        parts = urlsplit(text)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise self.error(key, f"has an invalid port: {text!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(key, f"must be an http(s) URL, got {text!r}")
        if parts.query or parts.fragment:
            raise self.error(key, f"must not carry a query or fragment: {text!r}")
        return text

    def path(self, key: str, default: str) -> str:
        value = self.text(key, default)
        if not value.startswith("/") or "?" in value:
            raise self.error(key, f"must be a path starting with '/', got {value!r}")
        return value.rstrip("/") or "/"

    def labels(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, f"must be a list of label keys, got {value!r}")
        return tuple(value)
