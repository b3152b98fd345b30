"""Risk, alignment and adoption per pilot, computed once per change and shared by every visitor.

The three portfolio views cost seconds at a few hundred pilots, and a steering meeting opens them
all at once, right after the nightly load. So this process keeps each pilot's result — its
`PilotRisk`, `PilotAlignment`, `PilotAdoption` — keyed on:

* the pilot's **stamp** (`queries.pilot_stamps`): its record's newest version in `pilot_history`
  and the uploads that brought it rows (`upload_pilots`) with their withdrawal. Every write that
  changes what a pilot's numbers read changes its stamp — an upload, a withdrawal, a record edit
  (page or register upload), the demo loaded or cleared — and no other pilot's;
* what counts for every pilot: the signal catalogue's and the metric dictionary's files, the
  thresholds set in the dashboard, the stored answers about metrics, and the store file itself
  (a restore or a replaced file starts afresh);
* the **moment** the numbers are for. A "now" view is exactly "now", written as the end of the
  current day unless a stored row dated later today comes due before it (`now_moment`):
  everything uploaded, withdrawn or edited so far counts, so a write shows on the next view, and
  the moment does not move with each write — a write recomputes the pilots it touched, nothing
  else. A pinned link's moment is its own (once per moment, too).

The stamps are read once per store version from small tables (never the data rows), so a view
that finds its results costs a dictionary look-up. When many sessions miss the same results at
once, one computes them and the others wait for its answer (`SingleFlight`); a failure reaches
every waiter and is not kept, so the next view tries again. A limited person's view is the subset
of pilots of their business units, taken from the same results: computed once, filtered per scope.

Results are exactly what `risk.assess`, `alignment_report.portfolio_alignment` and
`adoption_report.portfolio_adoption` give for the same moment (tests/test_results_once.py). They
are shared objects: read them, never change them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Generic, TypeVar

import pandas as pd

from pilot_health.store import queries
from pilot_health.store.database import Store, utc_now

KINDS = ("risk", "alignment", "adoption")
_log = logging.getLogger(__name__)


def now_moment(today: date | None = None, future: Sequence[datetime] = ()) -> datetime:
    """The moment a "now" view's numbers are for: exactly what they would be at this instant, in a
    form that stays the same until something can change them. Everything stored so far happened
    before now, so the numbers can only change later today when a stored row dated in the future
    (`future`: those times, from `queries.times_after`) comes due. So "now" is the end of today
    (the later of the day given and the current UTC day; the same moment as the last point of a
    pilot's monthly trend, `risk.month_ends`), or just before the next such time if it falls today:
    a write recomputes only the pilots it touched, and a link pinned now shows the same numbers."""
    now = utc_now()
    day = max(today, now.date()) if today else now.date()
    end = datetime.combine(day, time.max)
    due = next((t for t in sorted(future) if t > now), None)
    return min(end, due - timedelta(microseconds=1)) if due is not None else end


K = TypeVar("K", bound=Hashable)


class SingleFlight(Generic[K]):
    """A bounded, process-wide memo where each key (of type K) is computed by one thread at a time:
    others missing the same key wait for that computation's value (or its error, which is not kept).
    Least recently used entries go first once `max_entries` are kept."""

    def __init__(self, max_entries: int = 8000) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._done: OrderedDict[K, Any] = OrderedDict()
        self._running: dict[K, Future] = {}

    def __len__(self) -> int:
        return len(self._done)

    def clear(self) -> None:
        with self._lock:
            self._done.clear()

    def forget(self, keep: Callable[[K], bool]) -> None:
        """Drop every kept value whose key `keep` refuses (results no view will ask for again)."""
        with self._lock:
            for key in [k for k in self._done if not keep(k)]:
                del self._done[key]

    def get(self, key: K, compute: Callable[[], Any]) -> Any:
        return self.get_many([key], lambda missing: {key: compute()})[key]

    def get_many(self, keys: Sequence[K], compute: Callable[[list[K]], dict]) -> dict:
        """The values of `keys`: kept ones at once; those another thread is computing, its answer;
        the rest computed here in one call, `compute(missing keys) -> {key: value}`."""
        found: dict = {}
        waiting: dict[K, Future] = {}
        mine: dict[K, bool] = {}  # the keys this thread computes, in order
        with self._lock:
            for key in keys:
                if key in self._done:
                    self._done.move_to_end(key)
                    found[key] = self._done[key]
                elif key in mine:
                    continue
                elif key in self._running:
                    waiting[key] = self._running[key]
                else:
                    self._running[key] = Future()
                    mine[key] = True
        if mine:
            try:
                values = compute(list(mine))
                missing = [k for k in mine if k not in values]
                if missing:
                    raise KeyError(f"no value computed for {missing[0]!r}")
            except BaseException as error:
                with self._lock:
                    futures = [self._running.pop(k) for k in mine]
                for future in futures:
                    future.set_exception(error)
                raise
            with self._lock:
                futures = [self._running.pop(k) for k in mine]
                for key in mine:
                    self._done[key] = values[key]
                    self._done.move_to_end(key)
                while len(self._done) > self.max_entries:
                    self._done.popitem(last=False)
            for key, future in zip(mine, futures):
                future.set_result(values[key])
                found[key] = values[key]
        for key, future in waiting.items():
            found[key] = future.result()  # raises the computing thread's error
        return found


@dataclass(frozen=True)
class StoreState:
    """What the keeper needs to know about one version of one store file, read in one go."""

    file: tuple  # path, file identity, created_at: another file (a restore) is another store
    version: str
    stamps: dict[str, str]  # pilot -> stamp
    units: dict[str, str | None]  # pilot -> the business unit a limited person's scope goes by
    register: tuple[str, ...]  # pilots in the register now, in code order
    overrides: tuple[tuple[str, float], ...]  # thresholds set in the dashboard now
    definitions: str  # fingerprint of the stored answers about metrics
    future: tuple[datetime, ...] = ()  # times of stored rows dated after the last write (now_moment)


def _identity(path) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return (0, 0)
    return (stat.st_dev, stat.st_ino)


def _uploads_part(stamp: str) -> str:
    """The part of a pilot's stamp that its uploads make: `queries.pilot_stamps` writes a stamp as
    `<record version>/<uploads with their withdrawals>`. A stamp of another form is kept whole
    (more is read again, never less)."""
    return stamp.split("/", 1)[-1]


def _where(store: Store) -> tuple[str, tuple[int, int]]:
    """Which store: its file and the file's identity (a restore or a replaced file is another
    store), or a PostgreSQL store's address (a server has no file; a restore there brings its own
    `created_at` and version, which the state's key holds too)."""
    path = getattr(store, "path", None)
    if path is None:
        return (store.key[0], (0, 0))
    return (str(path), _identity(path))


class ResultsKeeper:
    """Per-pilot results for every store this process serves; see the module docstring."""

    def __init__(self, max_entries: int = 8000) -> None:
        self.results: SingleFlight[tuple] = SingleFlight(max_entries)
        self.states: SingleFlight[tuple] = SingleFlight(16)
        self.computed: Counter = (
            Counter()
        )  # kind -> pilots computed (and "portfolio" -> frames), for tests and the benchmark
        self._count_lock = threading.Lock()

    def clear(self) -> None:
        self.results.clear()
        self.states.clear()

    # -- the store's state -------------------------------------------------------------------

    def state(self, store: Store, version: str | None = None) -> StoreState:
        """The stamps of the store at `version` (what the caller read; None: read it now). A state
        read later than the caller's version is newer, never older: a write always shows."""
        path, identity = _where(store)
        if version is None:
            version = store.unscoped().version()
        state = self.states.get((path, identity, version), lambda: self._read_state(store))
        return state

    def _read_state(self, store: Store) -> StoreState:
        with store.unscoped().read() as con:
            meta = queries.read_meta(con)
            stamps = queries.pilot_stamps(con)
            overrides = queries.threshold_overrides(con)
            definitions = queries.metric_definitions_fingerprint(con)
            changed = meta.get("changed_at")
            future = queries.times_after(
                con, datetime.fromisoformat(changed).replace(tzinfo=None) if changed else utc_now()
            )
        state = StoreState(
            file=(*_where(store), meta.get("created_at")),
            version=meta["version"],
            stamps=dict(zip(stamps["pilot_id"], stamps["stamp"])),
            units={p: (None if pd.isna(u) else u) for p, u in zip(stamps["pilot_id"], stamps["business_unit"])},
            register=tuple(stamps.loc[stamps["in_register"], "pilot_id"]),
            overrides=tuple(sorted((k, float(v["value"])) for k, v in overrides.items())),
            definitions=definitions,
            future=tuple(future),
        )
        # A newer state makes the results of the pilots it changed unreachable: let them go.
        current = {(state.file, p, s) for p, s in state.stamps.items()}
        self.results.forget(
            lambda key: key[0] != "pilot" or key[2] != state.file or (state.file, key[3], key[4]) in current
        )
        return state

    # -- what counts for every pilot -----------------------------------------------------------

    def _catalogue(self, store: Store, state: StoreState, pinned: datetime | None):
        from pilot_health.rules.catalogue import load_catalogue
        from pilot_health.rules.thresholds import with_overrides

        if pinned is None:
            overrides = state.overrides
        else:

            def read() -> tuple:
                with store.unscoped().read() as con:
                    found = queries.threshold_overrides_at(con, pinned)
                return tuple(sorted((k, float(v["value"])) for k, v in found.items()))

            overrides = self.results.get(("overrides_at", state.file, state.version, pinned), read)
        return with_overrides(load_catalogue(), dict(overrides))

    def _pilots(self, store: Store, state: StoreState, pinned: datetime | None) -> tuple[str, ...]:
        """The pilots a view lists (now, or in the register at a pinned moment), narrowed to the store's scope."""
        if pinned is None:
            ids = state.register
        else:

            def read() -> tuple:
                with store.unscoped().read() as con:
                    return tuple(queries.pilot_ids_at(con, pinned))

            ids = self.results.get(("pilots_at", state.file, state.version, pinned), read)
        return self._in_scope(store, state, ids)

    @staticmethod
    def _in_scope(store: Store, state: StoreState, ids: Iterable[str]) -> tuple[str, ...]:
        if store.scope is None:
            return tuple(ids)
        units = set(store.scope.business_units)
        return tuple(p for p in ids if state.units.get(p) in units)

    # -- the results -----------------------------------------------------------------------------

    def pilot_results(
        self,
        kind: str,
        store: Store,
        version: str | None = None,
        today: date | None = None,
        pinned: datetime | None = None,
    ) -> list:
        """Every pilot's result of `kind` ('risk', 'alignment' or 'adoption') that the store's person
        may see, as `risk.assess` (in code order), `portfolio_alignment` or `portfolio_adoption`
        (worst first) give them for the same moment: now (`now_moment(today)`) or `pinned`."""
        return self._pilot_results(kind, store, version, today, pinned)[1]

    def _pilot_results(
        self, kind: str, store: Store, version: str | None, today: date | None, pinned: datetime | None
    ) -> tuple[tuple, list]:
        from pilot_health.rules.metric_dictionary import load_metric_dictionary

        if kind not in KINDS:
            raise ValueError(f"unknown kind of result {kind!r}")
        state = self.state(store, version)
        moment = pinned if pinned is not None else now_moment(today, state.future)
        catalogue = self._catalogue(store, state, pinned)
        rules = (catalogue.fingerprint, load_metric_dictionary().fingerprint, state.definitions)
        ids = self._pilots(store, state, pinned)
        scope = store.scope.business_units if store.scope else None
        whole = ("list", kind, state.file, state.version, scope, moment, pinned, rules)

        def assemble() -> list:
            keys = [("pilot", kind, state.file, p, state.stamps.get(p), rules, moment, pinned) for p in ids]
            unscoped = store.unscoped()

            def compute(missing: list) -> dict:
                wanted = [key[3] for key in missing]
                found = _compute(kind, unscoped, moment, wanted, catalogue, pinned)
                with self._count_lock:
                    self.computed[kind] += len(wanted)
                return {key: found.get(key[3]) for key in missing}

            values = self.results.get_many(keys, compute)
            rows = [values[key] for key in keys if values[key] is not None]
            return _ordered(kind, rows)

        return whole, self.results.get(whole, assemble)

    def risk(self, store: Store, version: str | None = None, today: date | None = None, pinned: datetime | None = None):
        return self.pilot_results("risk", store, version, today, pinned)

    def alignment(
        self, store: Store, version: str | None = None, today: date | None = None, pinned: datetime | None = None
    ):
        return self.pilot_results("alignment", store, version, today, pinned)

    def adoption(
        self, store: Store, version: str | None = None, today: date | None = None, pinned: datetime | None = None
    ):
        return self.pilot_results("adoption", store, version, today, pinned)

    def adoption_table(
        self, store: Store, version: str | None = None, today: date | None = None, pinned: datetime | None = None
    ) -> tuple[pd.DataFrame, datetime | None]:
        """The Adoption page's portfolio table (worst first) and the moment it is for."""
        from pilot_health.reports.adoption_report import portfolio_table

        key, rows = self._pilot_results("adoption", store, version, today, pinned)
        table = self.results.get(("table",) + key, lambda: portfolio_table(rows))
        return table, (rows[0].as_of if rows else None)

    def portfolio(
        self, store: Store, version: str | None, today: date, stale_after_days: int, pinned: datetime | None = None
    ) -> pd.DataFrame:
        """The home page's frame (`portfolio.load_portfolio`), computed once per store version for
        everyone and narrowed to the store's scope."""
        from pilot_health.analytics.portfolio import load_portfolio, upload_facts

        state = self.state(store, version)
        # What every pilot's uploads are (the part of its stamp they make): a write that is not an
        # upload, a withdrawal or a removal — a record edited, a decision, a threshold — leaves it,
        # and the frame is made again without reading every data row (a second on PostgreSQL).
        uploads = tuple(sorted((p, _uploads_part(s)) for p, s in state.stamps.items()))

        def facts() -> pd.DataFrame:
            with self._count_lock:
                self.computed["upload_facts"] += 1
            return upload_facts(store.unscoped(), pinned)

        def whole() -> pd.DataFrame:
            with self._count_lock:
                self.computed["portfolio"] += 1
            known = self.results.get(("upload_facts", state.file, pinned, uploads), facts)
            return load_portfolio(store.unscoped(), today, stale_after_days, pinned, uploads=known)

        frame = self.results.get(("portfolio", state.file, state.version, today, stale_after_days, pinned), whole)
        if store.scope is None:
            return frame
        allowed = set(self._in_scope(store, state, state.units))

        def narrowed() -> pd.DataFrame:
            return frame[frame["pilot_id"].isin(allowed)].reset_index(drop=True)

        return self.results.get(
            ("portfolio", state.file, state.version, today, stale_after_days, pinned, store.scope.business_units),
            narrowed,
        )

    def moment(self, store: Store, today: date | None = None, version: str | None = None) -> datetime:
        """The moment this store's "now" views are computed for (`now_moment`), at `version` (what
        the page view read when it began; None: read it now)."""
        return now_moment(today, self.state(store, version).future)

    def warm(self, store: Store, today: date | None = None) -> None:
        """Compute every pilot's results now (those not kept yet), before anyone asks."""
        for kind in KINDS:
            self.pilot_results(kind, store.unscoped(), None, today)


def _compute(
    kind: str, store: Store, moment: datetime, pilot_ids: list[str], catalogue, pinned: datetime | None
) -> dict:
    """These pilots' results of `kind`, by pilot (a pilot approved after the moment has none)."""
    if kind == "risk":
        from pilot_health.analytics.risk import assess

        return {row.pilot_id: row for row in assess(store, moment, pilot_ids, catalogue=catalogue, records_at=pinned)}
    if kind == "alignment":
        from pilot_health.reports.alignment_report import portfolio_alignment

        aligned = portfolio_alignment(store, moment, pilot_ids, catalogue=catalogue, records_at=pinned)
        return {row.pilot_id: row for row in aligned}
    from pilot_health.reports.adoption_report import portfolio_adoption

    adopted = portfolio_adoption(store, moment, pilot_ids, catalogue=catalogue, records_at=pinned)
    return {row.pilot_id: row for row in adopted}


def _ordered(kind: str, rows: list) -> list:
    """In the order the portfolio functions give (rows arrive in code order)."""
    if kind == "alignment":
        from pilot_health.reports.alignment_report import worst_first as alignment_order

        return alignment_order(rows)
    if kind == "adoption":
        from pilot_health.reports.adoption_report import worst_first as adoption_order

        return adoption_order(rows)
    return rows


KEEPER = ResultsKeeper()
"""The process-wide keeper the dashboard (and the command line, within one command) shares."""


class Warmer:
    """Keeps one store's results computed ahead of visitors: every `interval` seconds it looks for
    a new store version or a new day — cheaply: `Store.meta()` reads the file only when it changed,
    a PostgreSQL store's is one small query — and computes what changed (only the pilots a write
    touched; every pilot on a new day), so the committee opening the link after a nightly load
    finds the numbers ready."""

    def __init__(
        self, store: Store, interval: float, keeper: ResultsKeeper = KEEPER, today: Callable[[], date] = date.today
    ) -> None:
        self.store = store.unscoped()
        self.interval = interval
        self.keeper = keeper
        self.today = today
        self.seen: tuple[str, date] | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def check_once(self) -> bool:
        """Warm once if something changed since the last look; True when it did."""
        if not self.store.exists():  # a removed store is never created again by looking at it
            return False
        now = (self.store.meta().get("version", ""), self.today())
        if now == self.seen:
            return False
        self.keeper.warm(self.store, now[1])
        self.seen = now
        return True

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.check_once()
            except Exception:  # a locked, replaced or broken store: the next visitor computes and says why
                _log.warning(
                    "Computing the pilots' numbers ahead of visitors failed; trying again later.", exc_info=True
                )

    def start(self) -> Warmer:
        self.thread = threading.Thread(target=self._run, name=f"pilot-health-warmer:{self.store.location}", daemon=True)
        self.thread.start()
        return self


_WARMERS: dict = {}
_WARMERS_LOCK = threading.Lock()


def start_warmer(store: Store, interval: float) -> Warmer | None:
    """One warmer per store file and process (started by the first page view); none when `interval` is 0."""
    if interval <= 0:
        return None
    where = _where(store)[0]
    with _WARMERS_LOCK:
        warmer = _WARMERS.get(where)
        if warmer is None or not (warmer.thread and warmer.thread.is_alive()):
            warmer = _WARMERS[where] = Warmer(store, interval).start()
        return warmer
