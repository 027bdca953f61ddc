"""The rules file (``CDS_RULES_FILE``): how each guideline rule is rolled out.

A JSON object::

    {"rules": {"R2": "silent",
               "R4": {"mode": "active", "users": ["Practitioner/7"]},
               "R6": {"mode": "active", "issuers": ["https://ehr.example.org"],
                      "others": "off"}},
     "snooze_days": {"patient-declines": 90}}

A rule is ``active`` (cards returned), ``silent`` (computed and written to the card log
marked silent, returned to nobody) or ``off`` (dropped: neither returned nor logged). An
``active`` rule may be limited to a pilot group: the listed ``users`` (the hook's
``context.userId``) and ``issuers`` (the ``iss`` of the calling EHR's JWT); everyone else
gets the rule as ``others`` says, ``silent`` unless set. Rules not named are active.
``snooze_days`` sets, per override reason code, how long an override with that reason keeps
the rule quiet for that patient (0: not at all); unnamed reasons keep the defaults below.

The whole file is checked at start-up; any mistake stops the service with a message that
names the entry, because a half-understood rollout would show cards nobody approved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cds_service.guideline.references import catalogue
from cds_service.settings import (
    ConfigurationError,
    read_json_setting_file,
    setting_file_error,
)

# The rule ids the file may name: the patient-view rules and the order-time rules.
RULE_IDS = frozenset({*(f"R{n}" for n in range(11)), *(f"O{n}" for n in range(1, 8))})

# Days an override keeps its rule quiet for the patient, by override reason code. A patient
# who declines is asked again after six months; a contraindication or treatment elsewhere is
# reviewed yearly. Reasons not listed do not snooze (e.g. "correct first": the card should
# come back once the deficiency is corrected).
DEFAULT_SNOOZE_DAYS: Mapping[str, int] = {
    "patient-declines": 180,
    "contraindication": 365,
    "treated-elsewhere": 365,
}
MAX_SNOOZE_DAYS = 3650
_MAX_FILE_BYTES = 1024 * 1024
_TOP_FIELDS = frozenset({"rules", "snooze_days", "description"})
_RULE_FIELDS = frozenset({"mode", "users", "issuers", "others", "description"})


class Mode(StrEnum):
    ACTIVE = "active"
    SILENT = "silent"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class RulePolicy:
    mode: Mode = Mode.ACTIVE
    users: frozenset[str] = frozenset()
    issuers: frozenset[str] = frozenset()
    others: Mode = Mode.SILENT  # outside the pilot group

    @property
    def pilot(self) -> bool:
        return bool(self.users or self.issuers)

    def mode_for(self, user_id: str | None, issuer: str | None) -> Mode:
        if self.mode is not Mode.ACTIVE or not self.pilot:
            return self.mode
        if (user_id is not None and user_id in self.users) or (
            issuer is not None and issuer in self.issuers
        ):
            return Mode.ACTIVE
        return self.others


ALL_ACTIVE = RulePolicy()


@dataclass(frozen=True, slots=True)
class RulesConfig:
    rules: Mapping[str, RulePolicy] = field(default_factory=dict)
    snooze_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SNOOZE_DAYS))

    def mode_for(self, rule_id: str, user_id: str | None, issuer: str | None) -> Mode:
        return self.rules.get(rule_id, ALL_ACTIVE).mode_for(user_id, issuer)

    def snooze_days_for(self, reason_code: str | None) -> int:
        return self.snooze_days.get(reason_code, 0) if reason_code else 0

    def describe(self) -> dict[str, Any]:
        """The non-default rule modes, for the start-up log and readiness."""
        out: dict[str, Any] = {}
        for rule_id, policy in sorted(self.rules.items()):
            if policy.pilot:
                out[rule_id] = f"pilot ({len(policy.users)} users, {len(policy.issuers)} issuers)"
            elif policy.mode is not Mode.ACTIVE:
                out[rule_id] = policy.mode.value
        return out


def _fail(path: Path, where: str, problem: str) -> ConfigurationError:
    return setting_file_error("CDS_RULES_FILE", path, where, problem)


def _mode(value: Any, what: str) -> Mode:
    if not isinstance(value, str) or value not in Mode.__members__.values():
        allowed = ", ".join(m.value for m in Mode)
        raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
    return Mode(value)


def _names(value: Any, what: str) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"'{what}' must be a non-empty array of strings")
    for item in value:
        if not isinstance(item, str) or not item.strip() or item != item.strip():
            raise ValueError(
                f"'{what}' entries must be non-empty strings without surrounding spaces"
            )
    return frozenset(value)


def _parse_policy(raw: Any) -> RulePolicy:
    if isinstance(raw, str):
        return RulePolicy(mode=_mode(raw, "the mode"))
    if not isinstance(raw, Mapping):
        raise ValueError('must be a mode ("active", "silent", "off") or an object with "mode"')
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_RULE_FIELDS))}"
        )
    if "mode" not in raw:
        raise ValueError("'mode' is required")
    mode = _mode(raw["mode"], "'mode'")
    users = _names(raw["users"], "users") if "users" in raw else frozenset()
    issuers = _names(raw["issuers"], "issuers") if "issuers" in raw else frozenset()
    if (users or issuers) and mode is not Mode.ACTIVE:
        raise ValueError("'users' and 'issuers' name a pilot group, only with mode active")
    others = Mode.SILENT
    if "others" in raw:
        if not (users or issuers):
            raise ValueError("'others' applies only with a pilot group ('users' or 'issuers')")
        others = _mode(raw["others"], "'others'")
        if others is Mode.ACTIVE:
            raise ValueError("'others' must be silent or off (active for all needs no group)")
    return RulePolicy(mode=mode, users=users, issuers=issuers, others=others)


def _parse_snooze_days(raw: Any) -> dict[str, int]:
    if not isinstance(raw, Mapping):
        raise ValueError("must be an object of override reason code to days")
    known = catalogue().override_reasons
    days = dict(DEFAULT_SNOOZE_DAYS)
    for code, value in raw.items():
        if code not in known:
            raise ValueError(
                f"{code!r} is not an override reason code; known: {', '.join(sorted(known))}"
            )
        # bool is an int in Python; true/false days is a mistake, not 1/0.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{code}: days must be a whole number, got {value!r}")
        if not 0 <= value <= MAX_SNOOZE_DAYS:
            raise ValueError(f"{code}: days must be 0 to {MAX_SNOOZE_DAYS}, got {value}")
        days[code] = value
    return days


def load_rules_file(path: Path) -> RulesConfig:
    """Read and check the whole file; raise ConfigurationError naming the first problem."""
    data = read_json_setting_file("CDS_RULES_FILE", path, _MAX_FILE_BYTES)
    if not isinstance(data, Mapping):
        raise _fail(path, "top level", 'must be a JSON object with "rules" and/or "snooze_days"')
    unknown = set(data) - _TOP_FIELDS
    if unknown:
        raise _fail(
            path,
            "top level",
            f"unknown field(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_TOP_FIELDS))}",
        )
    raw_rules = data.get("rules", {})
    if not isinstance(raw_rules, Mapping):
        raise _fail(path, "rules", "must be an object of rule id to mode")
    rules: dict[str, RulePolicy] = {}
    for rule_id, raw in raw_rules.items():
        if rule_id not in RULE_IDS:
            raise _fail(
                path,
                f"rules.{rule_id}",
                "unknown rule id; known: R0-R10 and O1-O7",
            )
        try:
            rules[rule_id] = _parse_policy(raw)
        except ValueError as exc:
            raise _fail(path, f"rules.{rule_id}", str(exc)) from None
    try:
        snooze_days = _parse_snooze_days(data.get("snooze_days", {}))
    except ValueError as exc:
        raise _fail(path, "snooze_days", str(exc)) from None
    return RulesConfig(rules=rules, snooze_days=snooze_days)
