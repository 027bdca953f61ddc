"""Configuration from environment variables, with safe defaults.

One frozen object built once at start-up; nothing else in the service reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigurationError(ValueError):
    """A setting is malformed or unsafe; the service refuses to start."""


def setting_file_error(setting: str, path: Path, where: str, problem: str) -> ConfigurationError:
    """The start-up error for a deployment file: which setting, which file, where, what."""
    return ConfigurationError(f"{setting} {path}: {where}: {problem}")


def read_json_setting_file(setting: str, path: Path, max_bytes: int) -> Any:
    """The parsed JSON of the deployment file ``setting`` names, or a ConfigurationError that
    says what is wrong with the file itself (size, access, encoding, syntax); its content is
    the caller's to check."""
    try:
        if path.stat().st_size > max_bytes:
            raise setting_file_error(setting, path, "file", f"larger than {max_bytes} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise setting_file_error(
            setting, path, "file", f"cannot be read ({exc.strerror or exc})"
        ) from None
    except UnicodeDecodeError:
        raise setting_file_error(setting, path, "file", "is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise setting_file_error(
            setting, path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})"
        ) from None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    # deployment
    environment: str = "development"  # CDS_ENV: development | production
    log_level: str = "INFO"

    # request limits
    max_body_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 64
    max_prefetch_keys: int = 32
    max_prefetch_entries: int = 50_000  # resources over all prefetch Bundles

    # the FHIR client of the fall-back fetch
    fetch_deadline_seconds: float = 8.0
    fhir_connect_timeout: float = 3.0
    fhir_read_timeout: float = 5.0
    fhir_max_pages: int = 20
    fhir_max_response_bytes: int = 20 * 1024 * 1024  # all answers of one hook call together
    fhir_servers: tuple[str, ...] = ()  # allow-list when authentication is off
    # Hook calls fetching at once, host-wide: from one FHIR server, and from all together.
    fetch_max_per_server: int = 4
    fetch_max_total: int = 8

    # CORS
    cors_origins: tuple[str, ...] = ("*",)

    # security (JWT of the CDS client)
    trusted_issuers_file: Path | None = None
    jwt_algorithms: tuple[str, ...] = ("ES384", "RS384")
    jwt_clock_skew_seconds: int = 60
    jwt_jti_cache_size: int = 100_000  # per issuer
    jwt_max_lifetime_seconds: int = 3600  # longest exp - iat accepted (jti cache lifetime)
    trust_proxy_headers: bool = False
    # The URLs EHRs call this service by (e.g. https://cds.example.org); when set, a JWT's aud
    # must name one of them, whatever Host header a request carries.
    public_base_urls: tuple[str, ...] = ()

    # clinical content
    thresholds_file: Path | None = None  # a deployment's overrides of the shipped thresholds
    rules_file: Path | None = None  # CDS_RULES_FILE: rule modes, pilot groups, snooze days

    # storage
    data_dir: Path = field(default_factory=lambda: Path("var"))
    database_url: str | None = None
    patient_hash_salt: str | None = None

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'osteopenia-cds.sqlite3').resolve()}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        environment = env.get("CDS_ENV", "development").strip().lower() or "development"
        if environment not in {"development", "production"}:
            raise ConfigurationError(
                f"CDS_ENV must be 'development' or 'production', got {environment!r}"
            )
        # With slots=True the class attributes are slot descriptors, not the defaults.
        defaults = cls()
        issuers = env.get("CDS_TRUSTED_ISSUERS_FILE")
        thresholds = env.get("CDS_THRESHOLDS_FILE")
        rules = env.get("CDS_RULES_FILE")
        return cls(
            environment=environment,
            log_level=env.get("CDS_LOG_LEVEL", "INFO").upper(),
            max_body_bytes=_int(env, "CDS_MAX_BODY_BYTES", defaults.max_body_bytes, 1024),
            max_json_depth=_int(env, "CDS_MAX_JSON_DEPTH", defaults.max_json_depth, 8),
            max_prefetch_keys=_int(env, "CDS_MAX_PREFETCH_KEYS", defaults.max_prefetch_keys, 1),
            max_prefetch_entries=_int(
                env, "CDS_MAX_PREFETCH_ENTRIES", defaults.max_prefetch_entries, 1
            ),
            fetch_deadline_seconds=_float(
                env, "CDS_FETCH_DEADLINE_SECONDS", defaults.fetch_deadline_seconds, 0.1
            ),
            fhir_connect_timeout=_float(
                env, "CDS_FHIR_CONNECT_TIMEOUT", defaults.fhir_connect_timeout, 0.05
            ),
            fhir_read_timeout=_float(
                env, "CDS_FHIR_READ_TIMEOUT", defaults.fhir_read_timeout, 0.05
            ),
            fhir_max_pages=_int(env, "CDS_FHIR_MAX_PAGES", defaults.fhir_max_pages, 1),
            fhir_max_response_bytes=_int(
                env, "CDS_FHIR_MAX_RESPONSE_BYTES", defaults.fhir_max_response_bytes, 1024
            ),
            fhir_servers=tuple(u.rstrip("/") for u in _list(env, "CDS_FHIR_SERVERS")),
            fetch_max_per_server=_int(
                env, "CDS_FETCH_MAX_PER_SERVER", defaults.fetch_max_per_server, 1
            ),
            fetch_max_total=_int(env, "CDS_FETCH_MAX_TOTAL", defaults.fetch_max_total, 1),
            cors_origins=_list(env, "CDS_CORS_ORIGINS", ("*",)),
            trusted_issuers_file=Path(issuers) if issuers else None,
            jwt_algorithms=_list(env, "CDS_JWT_ALGORITHMS", ("ES384", "RS384")),
            jwt_clock_skew_seconds=_int(env, "CDS_JWT_CLOCK_SKEW", defaults.jwt_clock_skew_seconds),
            jwt_jti_cache_size=_int(env, "CDS_JWT_JTI_CACHE_SIZE", defaults.jwt_jti_cache_size, 1),
            jwt_max_lifetime_seconds=_int(
                env, "CDS_JWT_MAX_LIFETIME", defaults.jwt_max_lifetime_seconds, 60
            ),
            trust_proxy_headers=_bool(env, "CDS_TRUST_PROXY_HEADERS", False),
            public_base_urls=tuple(u.rstrip("/") for u in _list(env, "CDS_PUBLIC_BASE_URLS")),
            thresholds_file=Path(thresholds) if thresholds else None,
            rules_file=Path(rules) if rules else None,
            data_dir=Path(env.get("CDS_DATA_DIR", "var")),
            database_url=env.get("DATABASE_URL") or None,
            patient_hash_salt=env.get("CDS_PATIENT_HASH_SALT") or None,
        )
