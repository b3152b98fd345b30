"""The one place for configuration: every setting, its environment variable, default and meaning.

`docs/configuration.md` documents each setting; a test checks that every one of them is there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from pilot_health.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The checkout (the folder holding app.py) when running from one, else the working folder."""
    candidate = PACKAGE_DIR.parents[1]
    return candidate if (candidate / "app.py").exists() else Path.cwd()


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    description: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PILOT_HEALTH_ACCESS",
        "config/access.toml",
        "The access file: who may sign in, with which role (viewer, editor, admin) and business units. Used only when "
        "sign-in is configured. A relative path is taken from the checkout folder.",
    ),
    Setting(
        "PILOT_HEALTH_ESCALATION_DAYS",
        "14",
        "Alerts: a pilot that has been red for this many days with no committee decision in time about it (none "
        "recorded in those days, and none taken on it as red that is not yet overdue) is escalated to its executive "
        "sponsor (once, until the committee decides again).",
    ),
    Setting(
        "PILOT_HEALTH_SECRETS",
        ".streamlit/secrets.toml",
        "The secrets file the alerts command reads its [alerts] section from (the mail server, its login, the sponsors' "
        "addresses): the dashboard's own secrets file unless this says otherwise. A relative path is taken from the checkout folder.",
    ),
    Setting(
        "PILOT_HEALTH_ALLOW_OPEN_NETWORK",
        "no",
        "yes: let a dashboard without sign-in listen beyond this machine (anyone who reaches it can see and change "
        "everything). Without it, such a dashboard refuses to show data unless it listens on the loopback address only.",
    ),
    Setting(
        "PILOT_HEALTH_CURRENCY",
        "$",
        "The currency budgets and spend are written in on every page and in the steering packs: a symbol ($, €, £, ¥) "
        'or a short code (CHF, USD), put before the amount ("$1.65M", "CHF 820k"). Only the sign changes; amounts are not converted.',
    ),
    Setting(
        "PILOT_HEALTH_DB",
        "data/pilot_health.duckdb",
        "Where the store is: the path of an embedded DuckDB file (a relative path is taken from the checkout folder), "
        "or the address of a shared PostgreSQL database, postgresql://user:password@host:5432/database, "
        "for several dashboard replicas (docs/deployment.md).",
    ),
    Setting(
        "PILOT_HEALTH_ENVIRONMENTS",
        "config/environments.toml",
        "The words that say lab or live in an upload's cells and run names, and the column names that hold them. "
        "A relative path is taken from the checkout folder.",
    ),
    Setting(
        "PILOT_HEALTH_FISCAL_YEAR_START",
        "1",
        "The month (1–12) the organisation's fiscal year starts in, for dates written as fiscal periods (FY24 Q1) in uploads. "
        "A fiscal year is named by the calendar year it ends in: with 7, FY2024 starts on 1 July 2023.",
    ),
    Setting(
        "PILOT_HEALTH_LOCK_WAIT",
        "30",
        "Seconds the dashboard and the command line wait for the store while another program "
        "(a nightly load, a second dashboard) holds it, before saying so.",
    ),
    Setting(
        "PILOT_HEALTH_DEMO_ON_FIRST_RUN",
        "yes",
        "Load the demo portfolio the first time the dashboard opens a new, empty store (yes or no).",
    ),
    Setting(
        "PILOT_HEALTH_MAX_UPLOAD_MB",
        "200",
        "Largest file the upload page and `ingest` accept, in megabytes. Keep Streamlit's "
        "server.maxUploadSize (in .streamlit/config.toml) at least as large.",
    ),
    Setting(
        "PILOT_HEALTH_MAX_CELLS",
        "10000000",
        "Most cells one upload may hold (rows times columns in a CSV, cells written in a workbook's sheet); "
        "a file with more is refused before it is read to the end.",
    ),
    Setting(
        "PILOT_HEALTH_MAX_COLUMNS",
        "2000",
        "Most columns one upload may have; a file with a wider row is refused.",
    ),
    Setting(
        "PILOT_HEALTH_MAX_LINE_CHARACTERS",
        "1000000",
        "Longest line (and longest quoted value) a CSV or TSV may have, and the longest text one workbook cell may hold, "
        "in characters (bytes of UTF-8 text); a file with a longer one is refused.",
    ),
    Setting(
        "PILOT_HEALTH_MAX_ROWS",
        "2000000",
        "Most rows one upload may have, and may store (a table with a column per metric or date stores one row per filled cell); a file with more is refused.",
    ),
    Setting(
        "PILOT_HEALTH_MAX_UNPACKED_MB",
        "200",
        "Largest size of an upload once unpacked, in megabytes: the sheets and other parts of an .xlsx (a zip archive) "
        "as they unpack, and a text file as UTF-8 text. A larger file is refused while it is read.",
    ),
    Setting(
        "PILOT_HEALTH_METRICS",
        "config/metrics.toml",
        "The metric dictionary: known metric names and spellings, with kind, which way is better and unit. A relative path is taken from the checkout folder.",
    ),
    Setting(
        "PILOT_HEALTH_PUBLIC_URL",
        "http://localhost:8501",
        "The dashboard's address as people open it; the steering pack's links back to the live view start with it "
        "(when it is not set, a pack downloaded from the dashboard links to the address the dashboard was opened with).",
    ),
    Setting(
        "PILOT_HEALTH_SIGNALS",
        "config/signals.toml",
        "The signal catalogue: weights, thresholds and wording of the failure-pattern scores. A relative path is taken from the checkout folder.",
    ),
    Setting(
        "PILOT_HEALTH_STALE_UPLOAD_DAYS",
        "45",
        "A pilot whose newest data upload is older than this many days is flagged as stale on the home page.",
    ),
    Setting(
        "PILOT_HEALTH_WARM_SECONDS",
        "15",
        "How often (in seconds) the dashboard looks for new data — a nightly load, an upload, a new day — and "
        "computes the pilots' numbers before anyone opens a page. 0 turns this off (numbers are then computed "
        "by the first visitor after a change).",
    ),
)

# Time-in-pilot marks from the source article: past 6 months is pilot purgatory, past 18 months
# the pilot is statistically on its way to cancellation. (They move into the signal catalogue
# when the risk engine arrives.)
PURGATORY_MONTHS = 6
CANCELLATION_MONTHS = 18
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class UploadLimits:
    """How much work one upload may cause (issue 15: a 1.6 KB workbook must not take gigabytes).
    Every limit is checked while the file is read, and a file past one is refused with its name."""

    unpacked_mb: int = 200
    rows: int = 2_000_000
    columns: int = 2_000
    cells: int = 10_000_000
    line_characters: int = 1_000_000

    @property
    def unpacked_bytes(self) -> int:
        return self.unpacked_mb * 1024 * 1024


@dataclass(frozen=True)
class Config:
    db_path: Path
    lock_wait_seconds: float
    demo_on_first_run: bool
    stale_upload_days: int
    max_upload_mb: int
    signals_path: Path
    metrics_path: Path
    public_url: str = "http://localhost:8501"
    access_path: Path = Path("config/access.toml")
    allow_open_network: bool = False
    upload_limits: UploadLimits = UploadLimits()
    environments_path: Path = Path("config/environments.toml")
    fiscal_year_start_month: int = 1
    warm_seconds: float = 15.0
    currency: str = "$"
    # Set when PILOT_HEALTH_DB is a postgresql:// address: the store is that server, not db_path.
    db_url: str | None = None
    escalation_days: int = 14
    secrets_path: Path = Path(".streamlit/secrets.toml")


# PILOT_HEALTH_DB names a PostgreSQL server (not a file) when it starts like this.
URL_SCHEME = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)


def is_postgres_url(target: object) -> bool:
    """Does `target` (a setting, a command-line value, a path) name a PostgreSQL server?"""
    return isinstance(target, str) and bool(URL_SCHEME.match(target))


def _raw(env: Mapping[str, str], name: str) -> str:
    default = next(s.default for s in SETTINGS if s.env == name)
    value = env.get(name, "").strip()
    return value or default


def _number(env: Mapping[str, str], name: str, kind: type, minimum: float) -> float:
    raw = _raw(env, name)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(
            f"The setting {name}={raw!r} is not a number; set it to a number such as {minimum + 1:g} or remove it."
        ) from None
    if value < minimum:
        raise ConfigError(f"The setting {name}={raw!r} must be at least {minimum:g}.")
    return value


def _yes_no(env: Mapping[str, str], name: str) -> bool:
    raw = _raw(env, name).lower()
    if raw in {"yes", "y", "true", "1", "on"}:
        return True
    if raw in {"no", "n", "false", "0", "off"}:
        return False
    raise ConfigError(f"The setting {name}={raw!r} must be yes or no.")


def _month(env: Mapping[str, str], name: str) -> int:
    month = int(_number(env, name, int, 1))
    if month > 12:
        raise ConfigError(f"The setting {name}={month} must be a month number from 1 (January) to 12 (December).")
    return month


def resolve_db_path(raw: str | os.PathLike[str]) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (project_root() / path)


def load_config(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    db = _raw(env, "PILOT_HEALTH_DB")
    db_url = db if is_postgres_url(db) else None
    return Config(
        db_url=db_url,
        db_path=resolve_db_path(_raw({}, "PILOT_HEALTH_DB") if db_url else db),
        lock_wait_seconds=_number(env, "PILOT_HEALTH_LOCK_WAIT", float, 0),
        demo_on_first_run=_yes_no(env, "PILOT_HEALTH_DEMO_ON_FIRST_RUN"),
        stale_upload_days=int(_number(env, "PILOT_HEALTH_STALE_UPLOAD_DAYS", int, 1)),
        max_upload_mb=int(_number(env, "PILOT_HEALTH_MAX_UPLOAD_MB", int, 1)),
        signals_path=resolve_db_path(_raw(env, "PILOT_HEALTH_SIGNALS")),
        metrics_path=resolve_db_path(_raw(env, "PILOT_HEALTH_METRICS")),
        public_url=_raw(env, "PILOT_HEALTH_PUBLIC_URL").rstrip("/"),
        access_path=resolve_db_path(_raw(env, "PILOT_HEALTH_ACCESS")),
        allow_open_network=_yes_no(env, "PILOT_HEALTH_ALLOW_OPEN_NETWORK"),
        environments_path=resolve_db_path(_raw(env, "PILOT_HEALTH_ENVIRONMENTS")),
        upload_limits=UploadLimits(
            unpacked_mb=int(_number(env, "PILOT_HEALTH_MAX_UNPACKED_MB", int, 1)),
            rows=int(_number(env, "PILOT_HEALTH_MAX_ROWS", int, 2)),
            columns=int(_number(env, "PILOT_HEALTH_MAX_COLUMNS", int, 2)),
            cells=int(_number(env, "PILOT_HEALTH_MAX_CELLS", int, 4)),
            line_characters=int(_number(env, "PILOT_HEALTH_MAX_LINE_CHARACTERS", int, 100)),
        ),
        fiscal_year_start_month=_month(env, "PILOT_HEALTH_FISCAL_YEAR_START"),
        warm_seconds=float(_number(env, "PILOT_HEALTH_WARM_SECONDS", float, 0)),
        currency=currency_symbol(env),
        escalation_days=int(_number(env, "PILOT_HEALTH_ESCALATION_DAYS", int, 1)),
        secrets_path=resolve_db_path(_raw(env, "PILOT_HEALTH_SECRETS")),
    )


def currency_symbol(env: Mapping[str, str] | None = None) -> str:
    """The currency sign money is written with (PILOT_HEALTH_CURRENCY): a symbol or a code of up to
    five characters, without digits."""
    env = os.environ if env is None else env
    raw = _raw(env, "PILOT_HEALTH_CURRENCY")
    if len(raw) > 5 or any(c.isdigit() or c in "%\\" for c in raw):
        raise ConfigError(
            f"The setting PILOT_HEALTH_CURRENCY={raw!r} must be a currency symbol or code of up to five "
            "characters, such as $, €, £ or CHF."
        )
    return raw


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
M = TypeVar("M", bound="BaseModel")


class Reread(Protocol[T_co]):
    """A settings file's `load(path=None)`, as `reread_when_changed` makes it."""

    def __call__(self, path: Path | None = None) -> T_co: ...


def reread_when_changed(
    default_path: Callable[[], Path],
) -> Callable[[Callable[[Path], T]], Reread[T]]:
    """Turn `load(path)` of a settings file into `load(path=None)` that reads `default_path()` when
    no path is given, and reads the file again only when it has changed (by its modification time):
    an administrator's edit counts at the next page view, without a restart or a read per view."""

    def decorate(load: Callable[[Path], T]) -> Reread[T]:
        cached = lru_cache(maxsize=8)(lambda path, mtime: load(Path(path)))

        @wraps(load)
        def current(path: Path | None = None) -> T:
            path = path or default_path()
            try:
                mtime = path.stat().st_mtime
            except OSError:
                mtime = 0.0
            return cached(str(path), mtime)

        return current

    return decorate


def read_settings_file(
    file: Path, what: str, shipped: str, setting: str, model: type[M], add_source: bool = False
) -> tuple[M, str]:
    """Read a TOML settings file (the signal catalogue, the metric dictionary) and validate it with a
    pydantic `model` (with `add_source`, the file's path and hash become its `source` and
    `fingerprint` fields). Returns (the validated object, a short hash of the bytes). Every mistake is
    one ConfigError sentence naming the file and the entry at fault."""
    import hashlib
    import tomllib

    from pydantic import ValidationError

    from pilot_health.errors import ConfigError

    try:
        data = file.read_bytes()
    except OSError as error:
        raise ConfigError(
            f"The {what} {file} cannot be read ({error.strerror}); restore {shipped} or fix {setting}."
        ) from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"The {what} {file} is not valid TOML ({error}); fix the file and reload the page.") from None
    fingerprint = hashlib.sha256(data).hexdigest()[:12]
    try:
        fields = {"source": str(file), "fingerprint": fingerprint} if add_source else {}
        return model.model_validate({**raw, **fields}), fingerprint
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise ConfigError(
            f"The {what} {file} has a mistake at {where}: {first['msg']}; fix the file and reload the page."
        ) from None
