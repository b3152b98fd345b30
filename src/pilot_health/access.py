"""Who may do what: people, roles, business-unit limits and the access file.

When sign-in is configured, every visitor is a `Person` resolved from the identity provider's
claims against one access file (`config/access.toml`, setting PILOT_HEALTH_ACCESS): by e-mail
address, or by a claim such as a group. Without sign-in (a laptop) the dashboard is open to whoever
can reach it, as an administrator; the command line always acts as a local administrator.

A person limited to some business units sees only those units' pilots everywhere: the store hands
their pages a scoped view of every table (`Store.for_person`), and every write checks the limit
here before it changes anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from pilot_health.config import reread_when_changed
from pilot_health.errors import AccessDenied

ROLES = ("viewer", "editor", "admin")
ROLE_LABELS = {"viewer": "viewer", "editor": "editor", "admin": "administrator"}
# Each ability and the least role that has it (docs/access.md lists them).
ABILITIES: dict[str, str] = {
    "view": "viewer",
    "upload": "editor",
    "edit_pilots": "editor",
    "record_decisions": "editor",
    "withdraw_own": "editor",
    "withdraw_any": "admin",
    "edit_thresholds": "admin",
    "edit_dictionary": "admin",
    "manage_demo": "admin",
    "view_audit": "admin",
    "manage_alerts": "admin",
}
OPEN_ACCESS_NAME = "dashboard user"  # who the audit trail names when the dashboard has no sign-in


@dataclass(frozen=True)
class Scope:
    """What a limited person's reads are narrowed to: these business units' pilots and everything
    about them, the uploads they made or that brought rows for those pilots, their own audit lines."""

    business_units: tuple[str, ...]
    person: str


@dataclass(frozen=True)
class Person:
    """Someone using Pilot Health: the name the audit trail records, a role and, for a viewer or an
    editor, optionally the business units they are limited to (None: every unit)."""

    name: str
    role: str
    business_units: tuple[str, ...] | None = None
    signed_in: bool = False
    because: str = ""  # how the role was decided, in words (shown to the person)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")

    @property
    def limited(self) -> bool:
        return self.business_units is not None

    @property
    def scope(self) -> Scope | None:
        return Scope(self.business_units, self.name) if self.business_units is not None else None

    def can(self, ability: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(ABILITIES[ability])

    def require(self, ability: str, doing: str) -> None:
        """Raise AccessDenied, with one sentence, unless this person has `ability`."""
        if not self.can(ability):
            needed = ROLE_LABELS[ABILITIES[ability]]
            raise AccessDenied(
                f"{self.name} may not {doing}: that needs the {needed} role, and {self.name} is a {ROLE_LABELS[self.role]}."
            )

    def sees(self, business_unit: str | None) -> bool:
        return self.business_units is None or business_unit in self.business_units

    def require_unit(self, business_unit: str | None, doing: str) -> None:
        if not self.sees(business_unit):
            raise AccessDenied(
                f"{self.name} may not {doing}: it belongs to the business unit “{business_unit}”, and "
                f"{self.name} may work only with {self.units_text}."
            )

    def may_withdraw(self, uploaded_by: str) -> bool:
        return self.can("withdraw_any") or (self.can("withdraw_own") and uploaded_by == self.name)

    @property
    def units_text(self) -> str:
        return "every business unit" if self.business_units is None else ", ".join(self.business_units)


def local_administrator(name: str) -> Person:
    """The command line, and the dashboard without sign-in: everything, every unit."""
    return Person(name, "admin", None, signed_in=False, because="local use without sign-in")


def as_person(by: Person | str) -> Person:
    """Domain functions take a Person; a plain name (scripts, tests) is a local administrator."""
    return by if isinstance(by, Person) else local_administrator(by)


# -- the access file ----------------------------------------------------------------------------

RoleName = Literal["viewer", "editor", "admin"]


def _business_units(units: list[str] | None) -> list[str] | None:
    if units is None:
        return None
    cleaned = [u.strip() for u in units if u.strip()]
    if not cleaned:
        raise ValueError("business_units must name at least one business unit (leave it out for every unit)")
    return cleaned


BusinessUnits = Annotated[list[str] | None, AfterValidator(_business_units)]  # None: every unit


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: RoleName
    business_units: BusinessUnits = None

    @model_validator(mode="after")
    def _admins_see_everything(self) -> _Entry:
        if self.role == "admin" and self.business_units is not None:
            raise ValueError(
                "an admin is never limited to business units; remove business_units or choose viewer or editor"
            )
        return self


class PersonEntry(_Entry):
    email: str = Field(min_length=3)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if "@" not in value:
            raise ValueError(f"“{value}” is not an e-mail address")
        return value


class ClaimEntry(_Entry):
    claim: str = Field(min_length=1)
    value: str = Field(min_length=1)


class AccessFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_role: Literal["none", "viewer", "editor"] = "none"
    default_business_units: BusinessUnits = None
    people: list[PersonEntry] = []
    claims: list[ClaimEntry] = []
    source: str = ""
    fingerprint: str = ""

    @model_validator(mode="after")
    def _one_entry_per_person(self) -> AccessFile:
        seen: set[str] = set()
        for entry in self.people:
            if entry.email in seen:
                raise ValueError(f"{entry.email} is listed twice under [[people]]; keep one entry per person")
            seen.add(entry.email)
        return self


def _claim_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [str(value)]


def _verified(claims: Mapping[str, Any]) -> bool:
    """An e-mail address the provider says is unverified never matches a [[people]] entry."""
    flag = claims.get("email_verified", True)
    return not (flag is False or str(flag).strip().lower() in {"false", "0", "no"})


def person_name(claims: Mapping[str, Any]) -> str:
    """The name the audit trail records: the e-mail address, else the provider's user name or subject."""
    for key in ("email", "preferred_username", "upn", "sub"):
        if claims.get(key):
            return str(claims[key]).strip()
    return "unknown person"


def _combined(entries: Sequence[_Entry]) -> tuple[str, tuple[str, ...] | None]:
    """The highest role among the entries; its units are the union of that role's entries' units,
    or every unit when one of them is unlimited."""
    role = max((e.role for e in entries), key=ROLES.index)
    same = [e for e in entries if e.role == role]
    if any(e.business_units is None for e in same):
        return role, None
    units = sorted({u for e in same for u in (e.business_units or [])})
    return role, tuple(units)


def resolve_person(access: AccessFile, claims: Mapping[str, Any]) -> Person | None:
    """The signed-in person these identity claims describe, or None when the access file gives
    them no role. An e-mail entry decides alone; otherwise every matching claim entry counts (the
    highest role wins); otherwise the default role applies."""
    name = person_name(claims)
    email = str(claims.get("email") or "").strip().lower()
    if email and _verified(claims):
        for entry in access.people:
            if entry.email == email:
                units = tuple(entry.business_units) if entry.business_units is not None else None
                return Person(
                    name,
                    entry.role,
                    units,
                    signed_in=True,
                    because=f"listed by e-mail in {access.source or 'the access file'}",
                )
    matches = [e for e in access.claims if e.value in _claim_values(claims.get(e.claim))]
    if matches:
        role, units = _combined(matches)
        which = ", ".join(f"{e.claim} = {e.value}" for e in matches)
        return Person(name, role, units, signed_in=True, because=f"by the identity provider's claim {which}")
    if access.default_role != "none":
        units = tuple(access.default_business_units) if access.default_business_units is not None else None
        return Person(
            name,
            access.default_role,
            units,
            signed_in=True,
            because="the access file's default role for everyone who signs in",
        )
    return None


def access_path() -> Path:
    from pilot_health.config import load_config

    return load_config().access_path


@reread_when_changed(access_path)
def load_access(path: Path) -> AccessFile:
    """The access file in force, re-read whenever it changes (no restart needed to add a person)."""
    from pilot_health.config import read_settings_file

    access, _ = read_settings_file(
        path, "access file", "config/access.toml", "PILOT_HEALTH_ACCESS", AccessFile, add_source=True
    )
    return access


# -- open access on a network ---------------------------------------------------------------------


def is_loopback(address: str | None) -> bool:
    """Whether a server address listens on this machine only ('' and 0.0.0.0 mean every interface)."""
    if address is None:
        return False
    text = address.strip().strip("[]")
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False
