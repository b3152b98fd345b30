"""The demo portfolio's 24 pilots, each written on purpose to tell one story.

Times are given relative to the demo's last week of data (`weeks ago`, `months ago`), so the
whole portfolio can be re-dated as a block. Every failure pattern is clearly present in at least
two pilots, eight pilots are healthy, and SC-01 shows the article's lab-to-live cliff (92% in the
lab, 67% live). `docs/demo.md` tells each story in words; `tests/test_demo.py` checks the claims.

A series is a list of (weeks ago, value) points joined by straight lines, plus noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Point = tuple[int, float]
# ADKAR means for one team in one wave: awareness, desire, knowledge, ability, reinforcement.
Profile = tuple[float, float, float, float, float]

HEALTHY: Profile = (4.5, 4.3, 4.1, 4.0, 3.9)
DESIRE_GAP: Profile = (4.1, 2.3, 3.4, 3.2, 2.8)
KNOWLEDGE_GAP: Profile = (4.4, 4.0, 2.4, 2.7, 3.1)
ABILITY_GAP: Profile = (4.4, 4.1, 3.9, 2.5, 3.0)
AWARENESS_GAP: Profile = (2.4, 3.5, 3.3, 3.4, 3.2)
REINFORCEMENT_GAP: Profile = (4.5, 4.2, 4.1, 3.9, 2.6)

WAVE_WEEKS_AGO = {1: 44, 2: 24, 3: 4}


@dataclass(frozen=True)
class Series:
    metric: str
    points: list[Point]
    noise: float
    decimals: int = 4
    every: int = 1  # an observation every N weeks


@dataclass(frozen=True)
class Technical:
    metric: str
    lab: list[Point] | None
    live: list[Point] | None
    noise: float = 0.006


@dataclass(frozen=True)
class Team:
    name: str
    role: str
    size: int
    # per wave: (profile, share of the team that answered); a wave missing here was not run
    waves: dict[int, tuple[Profile, float]]


@dataclass(frozen=True)
class Story:
    record: dict[str, Any]
    approved_months_ago: float | None
    stage_months_ago: float
    target_production_months: float | None  # months from the anchor; negative = in the past
    kpi_deadline_months: float | None
    technical: list[Technical] = field(default_factory=list)
    business: Series | None = None
    active_users: list[Point] | None = None
    sessions_per_user: float = 4.0
    teams: list[Team] = field(default_factory=list)
    upload_every_weeks: int = 4
    data_ends_weeks_ago: int = 0


def improving(profile: Profile, by: float) -> Profile:
    """The same team a wave later, `by` points better on every element below 4."""
    return tuple(min(4.8, v + by) if v < 4 else v for v in profile)  # type: ignore[return-value]


def _yes(*names: str) -> dict[str, bool]:
    return {n: True for n in names}


def _no(*names: str) -> dict[str, bool]:
    return {n: False for n in names}


ALL_EVIDENCE = (
    "pipeline_automated",
    "data_quality_monitored",
    "master_data_managed",
    "api_designed",
    "latency_defined",
    "error_handling_designed",
    "integration_resourced",
    "change_plan",
    "training_ready",
    "monitoring_in_place",
    "drift_alerts",
    "responsible_ai_review",
    "escalation_path",
)
ALL_YES = _yes(*ALL_EVIDENCE)


def _record(pilot_id: str, name: str, unit: str, use_case: str, stage: str, **values: Any) -> dict[str, Any]:
    return {"pilot_id": pilot_id, "name": name, "business_unit": unit, "use_case": use_case, "stage": stage, **values}


STORIES: list[Story] = [
    # ---------------------------------------------------------------- Supply Chain
    Story(  # The article's cliff: 92% in the lab, 67% on live data. Data Debt.
        _record(
            "SC-01",
            "Fresh produce demand forecasting",
            "Supply Chain",
            "Forecasts daily demand for fresh produce per store to cut waste and gaps.",
            "pilot",
            owner="Maya Lindqvist",
            executive_sponsor="Daniel Okafor",
            sponsor_level="director",
            change_champion="Grace Moreau",
            vendor="Northwind Analytics",
            budget=1_800_000,
            spend_to_date=1_650_000,
            target_users=120,
            kpi_name="Forecast accuracy",
            kpi_baseline=72,
            kpi_target=87,
            kpi_unit="%",
            **_no("pipeline_automated", "data_quality_monitored", "master_data_managed"),
            **_yes(
                "api_designed",
                "latency_defined",
                "error_handling_designed",
                "integration_resourced",
                "change_plan",
                "training_ready",
                "monitoring_in_place",
                "drift_alerts",
                "responsible_ai_review",
                "escalation_path",
            ),
            data_effort_pct=15,
            integration_target="ERP",
            accountable_owner="Maya Lindqvist",
        ),
        approved_months_ago=16,
        stage_months_ago=15,
        target_production_months=-3,
        kpi_deadline_months=2,
        technical=[
            Technical("accuracy", lab=[(64, 0.86), (40, 0.91), (0, 0.92)], live=[(40, 0.71), (24, 0.67), (0, 0.67)])
        ],
        business=Series("forecast_accuracy", [(40, 72.0), (0, 73.2)], noise=0.6, decimals=2),
        active_users=[(40, 10), (20, 38), (0, 46)],
        teams=[
            Team(
                "Fresh planners",
                "Planner",
                70,
                {
                    1: ((4.3, 3.6, 3.8, 3.5, 3.0), 0.7),
                    2: ((4.3, 3.3, 3.9, 3.5, 2.9), 0.7),
                    3: ((4.2, 3.0, 3.9, 3.6, 2.8), 0.65),
                },
            ),
            Team(
                "Store fresh leads",
                "Store lead",
                40,
                {1: (HEALTHY, 0.6), 2: ((4.4, 3.6, 4.0, 3.9, 3.4), 0.6), 3: ((4.3, 3.2, 4.0, 3.8, 3.1), 0.6)},
            ),
        ],
        upload_every_weeks=2,
    ),
    Story(  # Healthy: in production, inventory down toward the -15% target.
        _record(
            "SC-02",
            "Inventory optimisation",
            "Supply Chain",
            "Sets reorder points and safety stock for 40,000 SKUs across distribution centres.",
            "production",
            owner="Tomás Herrera",
            executive_sponsor="Daniel Okafor",
            sponsor_level="director",
            change_champion="Ines Kowalski",
            vendor="",
            budget=2_200_000,
            spend_to_date=2_050_000,
            target_users=60,
            kpi_name="Inventory value",
            kpi_baseline=48.0,
            kpi_target=40.8,
            kpi_unit="$M",
            **ALL_YES,
            data_effort_pct=45,
            integration_target="ERP",
            accountable_owner="Tomás Herrera",
        ),
        approved_months_ago=26,
        stage_months_ago=8,
        target_production_months=-9,
        kpi_deadline_months=4,
        technical=[
            Technical(
                "mape",
                lab=[(103, 0.145), (50, 0.12), (0, 0.11)],
                live=[(80, 0.155), (40, 0.13), (0, 0.12)],
                noise=0.004,
            )
        ],
        business=Series("inventory_value", [(90, 48.0), (60, 46.5), (30, 43.8), (0, 41.4)], noise=0.35, decimals=2),
        active_users=[(80, 12), (50, 40), (20, 52), (0, 55)],
        teams=[
            Team(
                "Replenishment",
                "Analyst",
                35,
                {1: (HEALTHY, 0.8), 2: (improving(HEALTHY, 0.1), 0.8), 3: (improving(HEALTHY, 0.2), 0.85)},
            ),
            Team(
                "DC operations",
                "Supervisor",
                25,
                {
                    1: (REINFORCEMENT_GAP, 0.7),
                    2: (improving(REINFORCEMENT_GAP, 0.5), 0.75),
                    3: (improving(REINFORCEMENT_GAP, 1.0), 0.8),
                },
            ),
        ],
    ),
    Story(  # Integration Avoidance: 20 months in pilot, no system of record, nothing designed.
        _record(
            "SC-03",
            "Warehouse slotting optimiser",
            "Supply Chain",
            "Recommends where each product should sit in the warehouse to shorten pick paths.",
            "pilot",
            owner="Lena Brandt",
            executive_sponsor="Daniel Okafor",
            sponsor_level="director",
            change_champion="Omar Haddad",
            vendor="Slotwise",
            budget=900_000,
            spend_to_date=1_350_000,
            target_users=45,
            kpi_name="Picks per labour hour",
            kpi_baseline=110,
            kpi_target=130,
            kpi_unit="picks/h",
            **_yes("pipeline_automated", "data_quality_monitored", "change_plan"),
            **_no(
                "api_designed",
                "latency_defined",
                "error_handling_designed",
                "integration_resourced",
                "training_ready",
                "monitoring_in_place",
            ),
            data_effort_pct=40,
            integration_target="none",
            accountable_owner="Lena Brandt",
        ),
        approved_months_ago=21,
        stage_months_ago=20,
        target_production_months=-8,
        kpi_deadline_months=-2,
        technical=[Technical("r2", lab=[(86, 0.71), (40, 0.82), (0, 0.84)], live=[(30, 0.78), (0, 0.80)], noise=0.008)],
        business=Series("picks_per_labour_hour", [(86, 110.0), (0, 111.5)], noise=1.6, decimals=1),
        active_users=[(30, 4), (0, 7)],
        teams=[
            Team(
                "Warehouse supervisors",
                "Supervisor",
                30,
                {2: ((4.0, 3.5, 3.1, 2.9, 3.0), 0.6), 3: ((3.9, 3.3, 3.2, 2.8, 2.9), 0.55)},
            )
        ],
        upload_every_weeks=4,
        data_ends_weeks_ago=3,
    ),
    Story(  # Healthy: scaling, cost per drop on track.
        _record(
            "SC-04",
            "Delivery route planning",
            "Supply Chain",
            "Plans daily delivery routes and predicts arrival times for home delivery vans.",
            "scaling",
            owner="Aisha Bello",
            executive_sponsor="Karin Holm",
            sponsor_level="vp",
            change_champion="Jonas Weber",
            vendor="RouteLab",
            budget=1_200_000,
            spend_to_date=780_000,
            target_users=35,
            kpi_name="Cost per drop",
            kpi_baseline=6.40,
            kpi_target=5.40,
            kpi_unit="$",
            **{**ALL_YES, "responsible_ai_review": None},
            data_effort_pct=42,
            integration_target="TMS",
            accountable_owner="Aisha Bello",
        ),
        approved_months_ago=15,
        stage_months_ago=4,
        target_production_months=3,
        kpi_deadline_months=6,
        technical=[
            Technical("mae", lab=[(62, 9.0), (30, 6.5), (0, 6.0)], live=[(48, 8.6), (20, 6.9), (0, 6.5)], noise=0.25)
        ],
        business=Series("cost_per_drop", [(48, 6.40), (24, 6.05), (0, 5.72)], noise=0.05, decimals=2),
        active_users=[(48, 6), (24, 22), (0, 31)],
        teams=[
            Team(
                "Dispatch",
                "Dispatcher",
                35,
                {
                    1: (KNOWLEDGE_GAP, 0.8),
                    2: (improving(KNOWLEDGE_GAP, 0.8), 0.8),
                    3: (improving(KNOWLEDGE_GAP, 1.5), 0.85),
                },
            )
        ],
        upload_every_weeks=1,
    ),
    Story(  # Proposed: little evidence yet, no data.
        _record(
            "SC-05",
            "Supplier risk early warning",
            "Supply Chain",
            "Flags suppliers at risk of failing to deliver, from news, payments and delivery history.",
            "proposed",
            owner="Felix Novak",
            executive_sponsor="Karin Holm",
            sponsor_level="vp",
            budget=600_000,
            spend_to_date=20_000,
            target_users=25,
            kpi_name="Supplier disruption cost",
            kpi_baseline=4.2,
            kpi_target=3.0,
            kpi_unit="$M",
            data_effort_pct=50,
            integration_target="ERP",
        ),
        approved_months_ago=None,
        stage_months_ago=1,
        target_production_months=14,
        kpi_deadline_months=18,
    ),
    # ---------------------------------------------------------------- Retail Operations
    Story(  # Healthy: on-shelf availability 94% -> 98%, in production.
        _record(
            "RO-01",
            "On-shelf availability alerts",
            "Retail Operations",
            "Alerts store staff to gaps on the shelf before customers notice them.",
            "production",
            owner="Sofia Marin",
            executive_sponsor="Henrik Dahl",
            sponsor_level="vp",
            change_champion="Lucas Ferreira",
            vendor="",
            budget=1_500_000,
            spend_to_date=1_380_000,
            target_users=300,
            kpi_name="On-shelf availability",
            kpi_baseline=94.0,
            kpi_target=98.0,
            kpi_unit="%",
            **ALL_YES,
            data_effort_pct=48,
            integration_target="Store systems",
            accountable_owner="Sofia Marin",
        ),
        approved_months_ago=24,
        stage_months_ago=6,
        target_production_months=-7,
        kpi_deadline_months=3,
        technical=[Technical("f1", lab=[(96, 0.83), (40, 0.86), (0, 0.86)], live=[(70, 0.80), (30, 0.84), (0, 0.84)])],
        business=Series(
            "on_shelf_availability", [(70, 94.0), (40, 95.3), (20, 96.6), (0, 97.4)], noise=0.2, decimals=2
        ),
        active_users=[(70, 20), (40, 160), (20, 240), (0, 262)],
        teams=[
            Team(
                "Store staff North",
                "Store associate",
                110,
                {1: (AWARENESS_GAP, 0.62), 2: (improving(AWARENESS_GAP, 1.0), 0.7), 3: (HEALTHY, 0.72)},
            ),
            Team(
                "Store staff South",
                "Store associate",
                120,
                {1: ((3.6, 3.8, 3.6, 3.5, 3.3), 0.6), 2: (HEALTHY, 0.65), 3: (improving(HEALTHY, 0.2), 0.7)},
            ),
            Team("Store managers", "Store manager", 40, {1: (HEALTHY, 0.8), 2: (HEALTHY, 0.8), 3: (HEALTHY, 0.85)}),
        ],
        upload_every_weeks=1,
    ),
    Story(  # Organisational Resistance: no champion, manager-level sponsor, store managers stuck at Desire.
        _record(
            "RO-02",
            "Automated labour scheduling",
            "Retail Operations",
            "Builds weekly staff rosters from forecast footfall, replacing managers' manual rosters.",
            "pilot",
            owner="Peter Lindgren",
            executive_sponsor="Nadia Petrova",
            sponsor_level="manager",
            change_champion="none",
            vendor="ShiftIQ",
            budget=1_100_000,
            spend_to_date=820_000,
            target_users=180,
            kpi_name="Labour cost as share of sales",
            kpi_baseline=11.8,
            kpi_target=10.9,
            kpi_unit="%",
            **_yes(
                "pipeline_automated",
                "data_quality_monitored",
                "master_data_managed",
                "api_designed",
                "latency_defined",
                "error_handling_designed",
                "integration_resourced",
                "monitoring_in_place",
                "drift_alerts",
            ),
            **_no("change_plan", "training_ready"),
            data_effort_pct=40,
            integration_target="WFM",
            accountable_owner="Peter Lindgren",
        ),
        approved_months_ago=13,
        stage_months_ago=12,
        target_production_months=1,
        kpi_deadline_months=5,
        technical=[Technical("rmse", lab=[(54, 4.1), (20, 3.3), (0, 3.2)], live=[(40, 4.6), (0, 3.6)], noise=0.08)],
        business=Series("labour_cost_as_share_of_sales", [(40, 11.8), (0, 11.72)], noise=0.08, decimals=2),
        active_users=[(40, 8), (20, 24), (0, 31)],
        teams=[
            Team(
                "Store managers",
                "Store manager",
                140,
                {1: (DESIRE_GAP, 0.45), 2: ((4.2, 2.2, 3.4, 3.1, 2.7), 0.40), 3: ((4.2, 2.4, 3.5, 3.2, 2.7), 0.38)},
            ),
            Team(
                "Area managers",
                "Area manager",
                14,
                {
                    1: ((4.3, 3.0, 3.3, 3.4, 3.0), 0.8),
                    2: ((4.4, 3.1, 3.0, 3.3, 3.0), 0.75),
                    3: ((4.4, 3.4, 2.7, 3.2, 3.0), 0.8),
                },
            ),
            Team("Workforce planning", "Planner", 4, {1: (HEALTHY, 1.0), 2: (HEALTHY, 1.0), 3: (HEALTHY, 1.0)}),
        ],
    ),
    Story(  # Wrong Success Metrics: model accuracy climbs, gross margin does not move.
        _record(
            "RO-03",
            "Markdown pricing optimiser",
            "Retail Operations",
            "Chooses markdown depth and timing for end-of-season stock.",
            "pilot",
            owner="Chloe Martin",
            executive_sponsor="Henrik Dahl",
            sponsor_level="vp",
            change_champion="Ravi Shah",
            vendor="PriceCraft",
            budget=950_000,
            spend_to_date=610_000,
            target_users=50,
            kpi_name="Gross margin on marked-down items",
            kpi_baseline=18.0,
            kpi_target=22.0,
            kpi_unit="%",
            **{**ALL_YES, "responsible_ai_review": None, "master_data_managed": False},
            data_effort_pct=35,
            integration_target="Pricing engine",
            accountable_owner="Chloe Martin",
        ),
        approved_months_ago=10,
        stage_months_ago=9,
        target_production_months=2,
        kpi_deadline_months=3,
        technical=[Technical("accuracy", lab=[(38, 0.78), (0, 0.90)], live=[(34, 0.75), (0, 0.88)])],
        business=Series("gross_margin_on_marked_down_items", [(34, 18.0), (0, 18.1)], noise=0.35, decimals=2),
        active_users=[(34, 10), (10, 33), (0, 36)],
        teams=[
            Team(
                "Merchandisers",
                "Merchandiser",
                45,
                {2: ((4.4, 4.0, 3.8, 3.7, 3.3), 0.7), 3: ((4.5, 4.1, 4.0, 3.9, 3.5), 0.7)},
            )
        ],
        upload_every_weeks=2,
    ),
    Story(  # Paused: nobody scoped the planogram integration or prepared the stores; data stopped five months ago.
        _record(
            "RO-04",
            "Store layout recommender",
            "Retail Operations",
            "Suggests fixture and category placement per store format.",
            "paused",
            owner="Marco Rossi",
            executive_sponsor="Nadia Petrova",
            sponsor_level="manager",
            change_champion="none",
            vendor="SpaceSense",
            budget=700_000,
            spend_to_date=690_000,
            target_users=80,
            kpi_name="Sales per square metre",
            kpi_baseline=1450,
            kpi_target=1600,
            kpi_unit="$",
            **_yes("pipeline_automated"),
            **_no("api_designed", "integration_resourced", "change_plan", "training_ready"),
            data_effort_pct=30,
            integration_target="Planogram system",
        ),
        approved_months_ago=23,
        stage_months_ago=5,
        target_production_months=-5,
        kpi_deadline_months=-1,
        technical=[Technical("accuracy", lab=[(96, 0.74), (40, 0.81), (22, 0.82)], live=[(50, 0.70), (22, 0.71)])],
        business=Series("sales_per_square_metre", [(50, 1450.0), (22, 1455.0)], noise=12, decimals=0),
        active_users=[(50, 3), (22, 6)],
        data_ends_weeks_ago=22,
    ),
    Story(  # Data Debt: nine months in pilot with lab results only; nothing from live data.
        _record(
            "RO-05",
            "Shelf image recognition",
            "Retail Operations",
            "Reads shelf photos to check planogram compliance and price labels.",
            "pilot",
            owner="Hana Sato",
            executive_sponsor="Henrik Dahl",
            sponsor_level="vp",
            change_champion="Lucas Ferreira",
            vendor="VisionShelf",
            budget=1_300_000,
            spend_to_date=870_000,
            target_users=300,
            kpi_name="Planogram compliance",
            kpi_baseline=82,
            kpi_target=92,
            kpi_unit="%",
            **_no("pipeline_automated", "data_quality_monitored", "master_data_managed"),
            **_yes("api_designed", "change_plan"),
            data_effort_pct=20,
            integration_target="Store systems",
            accountable_owner="Hana Sato",
        ),
        approved_months_ago=10,
        stage_months_ago=9,
        target_production_months=2,
        kpi_deadline_months=8,
        technical=[
            Technical("precision", lab=[(38, 0.81), (0, 0.93)], live=None),
            Technical("recall", lab=[(38, 0.74), (0, 0.89)], live=None),
        ],
        upload_every_weeks=2,
    ),
    # ---------------------------------------------------------------- Finance
    Story(  # Governance Vacuum: in production, AUC decayed about 22% below its first live weeks, nobody watching.
        _record(
            "FN-01",
            "Credit risk scoring",
            "Finance",
            "Scores small-business credit applications for default risk.",
            "production",
            owner="Oliver Grant",
            executive_sponsor="Elena Varga",
            sponsor_level="vp",
            change_champion="Mei Chen",
            vendor="",
            budget=2_600_000,
            spend_to_date=2_480_000,
            target_users=40,
            kpi_name="Default rate",
            kpi_baseline=3.4,
            kpi_target=2.6,
            kpi_unit="%",
            **_yes(
                "pipeline_automated",
                "data_quality_monitored",
                "master_data_managed",
                "api_designed",
                "latency_defined",
                "error_handling_designed",
                "integration_resourced",
                "change_plan",
                "training_ready",
            ),
            **_no("monitoring_in_place", "drift_alerts", "responsible_ai_review", "escalation_path"),
            data_effort_pct=45,
            integration_target="Loan origination system",
            accountable_owner="none",
        ),
        approved_months_ago=30,
        stage_months_ago=14,
        target_production_months=-15,
        kpi_deadline_months=1,
        technical=[
            Technical(
                "roc_auc",
                lab=[(103, 0.86), (60, 0.87), (0, 0.87)],
                live=[(103, 0.84), (60, 0.86), (26, 0.85), (0, 0.64)],
                noise=0.005,
            )
        ],
        business=Series("default_rate", [(103, 3.4), (50, 2.9), (26, 2.95), (0, 3.3)], noise=0.04, decimals=2),
        active_users=[(103, 20), (60, 36), (0, 37)],
        teams=[
            Team("Credit analysts", "Analyst", 40, {1: (HEALTHY, 0.8), 2: (HEALTHY, 0.8), 3: (REINFORCEMENT_GAP, 0.75)})
        ],
    ),
    Story(  # Healthy: invoice matching scaling, cost per invoice falling on plan.
        _record(
            "FN-02",
            "Invoice matching automation",
            "Finance",
            "Matches supplier invoices to purchase orders and receipts.",
            "scaling",
            owner="Nina Johansson",
            executive_sponsor="Elena Varga",
            sponsor_level="vp",
            change_champion="Sam Osei",
            vendor="MatchPoint",
            budget=800_000,
            spend_to_date=520_000,
            target_users=50,
            kpi_name="Cost per invoice",
            kpi_baseline=4.10,
            kpi_target=2.50,
            kpi_unit="$",
            **ALL_YES,
            data_effort_pct=50,
            integration_target="ERP",
            accountable_owner="Nina Johansson",
        ),
        approved_months_ago=14,
        stage_months_ago=3,
        target_production_months=2,
        kpi_deadline_months=4,
        technical=[
            Technical(
                "accuracy",
                lab=[(58, 0.91), (20, 0.95), (0, 0.95)],
                live=[(44, 0.89), (20, 0.93), (0, 0.93)],
                noise=0.004,
            )
        ],
        business=Series("cost_per_invoice", [(44, 4.10), (20, 3.30), (0, 2.85)], noise=0.05, decimals=2),
        active_users=[(44, 8), (20, 38), (0, 46)],
        teams=[
            Team(
                "Accounts payable",
                "Clerk",
                50,
                {1: (ABILITY_GAP, 0.8), 2: (improving(ABILITY_GAP, 0.9), 0.85), 3: (HEALTHY, 0.85)},
            )
        ],
        upload_every_weeks=1,
    ),
    Story(  # Wrong Success Metrics: five months in, no business KPI was ever defined.
        _record(
            "FN-03",
            "Cash-flow forecasting",
            "Finance",
            "Forecasts 13-week cash position for treasury.",
            "pilot",
            owner="Ahmed Karimi",
            executive_sponsor="Elena Varga",
            sponsor_level="vp",
            change_champion="Sam Osei",
            vendor="",
            budget=450_000,
            spend_to_date=260_000,
            target_users=12,
            **_yes(
                "pipeline_automated",
                "data_quality_monitored",
                "api_designed",
                "latency_defined",
                "integration_resourced",
                "change_plan",
                "training_ready",
                "monitoring_in_place",
            ),
            data_effort_pct=40,
            integration_target="Treasury system",
            accountable_owner="Ahmed Karimi",
            kpi_name="none",  # the register says so: no business KPI was ever agreed (a blank would be "not known")
        ),
        approved_months_ago=5,
        stage_months_ago=4.5,
        target_production_months=6,
        kpi_deadline_months=None,
        technical=[Technical("mape", lab=[(21, 0.12), (0, 0.07)], live=[(18, 0.14), (0, 0.09)], noise=0.003)],
        active_users=[(18, 4), (0, 10)],
        teams=[Team("Treasury", "Analyst", 12, {3: (HEALTHY, 0.9)})],
        upload_every_weeks=2,
    ),
    Story(  # Integration Avoidance: ERP named, but no API, no resourcing, 19 months in pilot.
        _record(
            "FN-04",
            "Expense fraud detection",
            "Finance",
            "Flags suspicious employee expense claims for audit.",
            "pilot",
            owner="Clara Schmidt",
            executive_sponsor="Elena Varga",
            sponsor_level="vp",
            change_champion="Mei Chen",
            vendor="FraudLens",
            budget=1_500_000,
            spend_to_date=1_900_000,
            target_users=25,
            kpi_name="Expense fraud losses",
            kpi_baseline=2.1,
            kpi_target=1.5,
            kpi_unit="$M",
            **_yes("pipeline_automated", "data_quality_monitored", "master_data_managed", "change_plan"),
            **_no("api_designed", "latency_defined", "integration_resourced", "monitoring_in_place"),
            data_effort_pct=42,
            integration_target="ERP",
            accountable_owner="Clara Schmidt",
        ),
        approved_months_ago=20,
        stage_months_ago=19,
        target_production_months=-7,
        kpi_deadline_months=0.5,
        technical=[
            Technical("precision", lab=[(82, 0.81), (30, 0.88), (0, 0.88)], live=[(50, 0.74), (0, 0.79)], noise=0.008)
        ],
        business=Series("expense_fraud_losses", [(82, 2.1), (0, 2.08)], noise=0.03, decimals=2, every=4),
        active_users=[(50, 2), (0, 3)],
        teams=[Team("Internal audit", "Auditor", 25, {2: ((4.0, 3.9, 3.6, 2.9, 3.0), 0.6)})],
        upload_every_weeks=4,
    ),
    Story(  # Cancelled after burning $2.4M: lab F1 0.90, live 0.61 on messy scanned documents.
        _record(
            "FN-05",
            "Tax document extraction",
            "Finance",
            "Extracted figures from scanned tax documents for the tax team.",
            "cancelled",
            owner="Jan de Vries",
            executive_sponsor="Elena Varga",
            sponsor_level="vp",
            change_champion="none",
            vendor="DocuMind",
            budget=2_000_000,
            spend_to_date=2_400_000,
            target_users=30,
            kpi_name="Manual hours per return",
            kpi_baseline=3.5,
            kpi_target=1.5,
            kpi_unit="hours",
            **_no("pipeline_automated", "data_quality_monitored", "master_data_managed", "change_plan"),
            **_yes("api_designed"),
            data_effort_pct=10,
            integration_target="Tax platform",
        ),
        approved_months_ago=26,
        stage_months_ago=6,
        target_production_months=-12,
        kpi_deadline_months=-4,
        technical=[
            Technical("f1", lab=[(103, 0.84), (60, 0.90), (28, 0.90)], live=[(70, 0.63), (28, 0.61)], noise=0.01)
        ],
        business=Series("manual_hours_per_return", [(70, 3.5), (28, 3.45)], noise=0.06, decimals=2),
        active_users=[(70, 5), (28, 6)],
        teams=[Team("Tax team", "Tax specialist", 30, {1: ((4.0, 3.0, 3.2, 2.6, 2.5), 0.7)})],
        data_ends_weeks_ago=26,
    ),
    # ---------------------------------------------------------------- Customer Service
    Story(  # Organisational Resistance: agents never trained; stuck at Knowledge; 31% adoption.
        _record(
            "CS-01",
            "Customer service chatbot",
            "Customer Service",
            "Answers routine customer questions in chat and hands over to agents.",
            "pilot",
            owner="Laura Bianchi",
            executive_sponsor="Tom Becker",
            sponsor_level="manager",
            change_champion="Priya Nair",
            vendor="TalkBridge",
            budget=1_400_000,
            spend_to_date=1_050_000,
            target_users=200,
            kpi_name="Cost per contact",
            kpi_baseline=5.80,
            kpi_target=4.60,
            kpi_unit="$",
            **_yes(
                "pipeline_automated",
                "data_quality_monitored",
                "api_designed",
                "latency_defined",
                "error_handling_designed",
                "integration_resourced",
                "monitoring_in_place",
                "escalation_path",
            ),
            **_no("change_plan", "training_ready"),
            data_effort_pct=38,
            integration_target="CRM",
            accountable_owner="Laura Bianchi",
        ),
        approved_months_ago=11,
        stage_months_ago=10,
        target_production_months=1,
        kpi_deadline_months=4,
        technical=[Technical("accuracy", lab=[(46, 0.84), (0, 0.88)], live=[(36, 0.80), (0, 0.84)])],
        business=Series("cost_per_contact", [(36, 5.80), (0, 5.62)], noise=0.06, decimals=2),
        active_users=[(36, 15), (18, 52), (0, 62)],
        teams=[
            Team(
                "Tier 1 agents",
                "Agent",
                150,
                {1: (KNOWLEDGE_GAP, 0.55), 2: ((4.3, 3.8, 2.5, 2.6, 2.9), 0.5), 3: ((4.3, 3.7, 2.6, 2.5, 2.8), 0.45)},
            ),
            Team(
                "Team leads",
                "Team lead",
                18,
                {1: (ABILITY_GAP, 0.8), 2: (ABILITY_GAP, 0.8), 3: ((4.4, 4.0, 3.6, 2.7, 3.0), 0.75)},
            ),
            Team("Quality", "Analyst", 3, {1: (HEALTHY, 1.0), 2: (HEALTHY, 1.0), 3: (HEALTHY, 1.0)}),
        ],
    ),
    Story(  # Wrong Success Metrics: AUC climbs 0.78 -> 0.88 while churn gets worse.
        _record(
            "CS-02",
            "Churn prediction",
            "Customer Service",
            "Predicts which subscribers will cancel so retention can call them.",
            "production",
            owner="Ethan Walsh",
            executive_sponsor="Tom Becker",
            sponsor_level="director",
            change_champion="Priya Nair",
            vendor="",
            budget=900_000,
            spend_to_date=870_000,
            target_users=60,
            kpi_name="Monthly churn rate",
            kpi_baseline=2.8,
            kpi_target=2.2,
            kpi_unit="%",
            **{**ALL_YES, "responsible_ai_review": None},
            data_effort_pct=40,
            integration_target="CRM",
            accountable_owner="Ethan Walsh",
        ),
        approved_months_ago=22,
        stage_months_ago=10,
        target_production_months=-10,
        kpi_deadline_months=0,
        technical=[
            Technical(
                "roc_auc",
                lab=[(92, 0.80), (40, 0.89), (0, 0.90)],
                live=[(80, 0.78), (40, 0.84), (0, 0.88)],
                noise=0.004,
            )
        ],
        business=Series("monthly_churn_rate", [(80, 2.8), (40, 2.85), (0, 2.97)], noise=0.04, decimals=2),
        active_users=[(80, 12), (40, 48), (0, 54)],
        teams=[
            Team(
                "Retention team",
                "Agent",
                60,
                {1: (HEALTHY, 0.7), 2: (HEALTHY, 0.7), 3: (improving(HEALTHY, 0.1), 0.72)},
            )
        ],
    ),
    Story(  # Healthy: summaries cut handle time; adoption high.
        _record(
            "CS-03",
            "Call summarisation",
            "Customer Service",
            "Writes the after-call summary for agents to check and save.",
            "scaling",
            owner="Zoe Laurent",
            executive_sponsor="Tom Becker",
            sponsor_level="director",
            change_champion="Kofi Mensah",
            vendor="VoiceNote",
            budget=700_000,
            spend_to_date=430_000,
            target_users=260,
            kpi_name="Average handle time",
            kpi_baseline=410,
            kpi_target=360,
            kpi_unit="seconds",
            **ALL_YES,
            data_effort_pct=40,
            integration_target="CRM",
            accountable_owner="Zoe Laurent",
        ),
        approved_months_ago=12,
        stage_months_ago=2,
        target_production_months=2,
        kpi_deadline_months=3,
        technical=[Technical("f1", lab=[(50, 0.79), (0, 0.86)], live=[(38, 0.77), (0, 0.85)], noise=0.005)],
        business=Series("average_handle_time", [(38, 410.0), (18, 388.0), (0, 371.0)], noise=2.5, decimals=1),
        active_users=[(38, 30), (18, 180), (0, 238)],
        teams=[
            Team(
                "Tier 1 agents",
                "Agent",
                180,
                {1: (KNOWLEDGE_GAP, 0.65), 2: (improving(KNOWLEDGE_GAP, 1.0), 0.7), 3: (HEALTHY, 0.72)},
            ),
            Team(
                "Tier 2 agents",
                "Agent",
                60,
                {1: (HEALTHY, 0.7), 2: (HEALTHY, 0.75), 3: (improving(HEALTHY, 0.2), 0.75)},
            ),
            Team("Team leads", "Team lead", 20, {1: (HEALTHY, 0.9), 2: (HEALTHY, 0.9), 3: (HEALTHY, 0.9)}),
        ],
        upload_every_weeks=1,
    ),
    Story(  # Paused: precision decayed about 22% with no monitoring, no drift alerts, no escalation path.
        _record(
            "CS-04",
            "Next-best-action for agents",
            "Customer Service",
            "Suggests the next offer or action to agents during a call.",
            "paused",
            owner="Ben Carter",
            executive_sponsor="Tom Becker",
            sponsor_level="director",
            change_champion="Kofi Mensah",
            vendor="NextStep AI",
            budget=1_000_000,
            spend_to_date=940_000,
            target_users=150,
            kpi_name="Offer acceptance rate",
            kpi_baseline=8.0,
            kpi_target=12.0,
            kpi_unit="%",
            **_yes(
                "pipeline_automated",
                "data_quality_monitored",
                "api_designed",
                "latency_defined",
                "integration_resourced",
                "change_plan",
                "training_ready",
            ),
            **_no("monitoring_in_place", "drift_alerts", "responsible_ai_review", "escalation_path"),
            data_effort_pct=35,
            integration_target="CRM",
        ),
        approved_months_ago=19,
        stage_months_ago=3,
        target_production_months=-6,
        kpi_deadline_months=-2,
        technical=[
            Technical("precision", lab=[(80, 0.70), (14, 0.73)], live=[(66, 0.69), (44, 0.72), (14, 0.53)], noise=0.006)
        ],
        business=Series("offer_acceptance_rate", [(66, 8.0), (44, 9.6), (14, 8.3)], noise=0.2, decimals=2),
        active_users=[(66, 20), (44, 110), (14, 70)],
        teams=[Team("Sales agents", "Agent", 150, {1: (HEALTHY, 0.6), 2: (REINFORCEMENT_GAP, 0.55)})],
        data_ends_weeks_ago=14,
    ),
    Story(  # Healthy early pilot: three months in, doing the right things; training not confirmed yet.
        _record(
            "CS-05",
            "Email triage",
            "Customer Service",
            "Routes incoming customer e-mail to the right queue with a suggested reply.",
            "pilot",
            owner="Julia Novak",
            executive_sponsor="Tom Becker",
            sponsor_level="director",
            change_champion="Kofi Mensah",
            vendor="",
            budget=400_000,
            spend_to_date=110_000,
            target_users=80,
            kpi_name="First response time",
            kpi_baseline=9.5,
            kpi_target=4.0,
            kpi_unit="hours",
            **{**ALL_YES, "training_ready": None, "responsible_ai_review": None},
            data_effort_pct=45,
            integration_target="CRM",
            accountable_owner="Julia Novak",
        ),
        approved_months_ago=4,
        stage_months_ago=3,
        target_production_months=5,
        kpi_deadline_months=8,
        technical=[Technical("accuracy", lab=[(14, 0.86), (0, 0.91)], live=[(6, 0.87), (0, 0.89)])],
        business=Series("first_response_time", [(6, 9.5), (0, 7.8)], noise=0.15, decimals=2),
        active_users=[(6, 8), (0, 27)],
        teams=[Team("Email agents", "Agent", 80, {3: ((4.4, 4.2, 3.7, 3.6, 3.5), 0.7)})],
        upload_every_weeks=1,
    ),
    # ---------------------------------------------------------------- Marketing
    Story(  # Healthy: scaling, governed from day one; the live AUC holds and revenue per visit is on plan.
        _record(
            "MK-01",
            "Dynamic pricing",
            "Marketing",
            "Sets online prices per product and hour from demand and competitor prices.",
            "scaling",
            owner="Isabel Cruz",
            executive_sponsor="Mark Jensen",
            sponsor_level="vp",
            change_champion="Anna Berg",
            vendor="PriceCraft",
            budget=1_700_000,
            spend_to_date=1_420_000,
            target_users=30,
            kpi_name="Revenue per visit",
            kpi_baseline=3.20,
            kpi_target=3.60,
            kpi_unit="$",
            **ALL_YES,
            data_effort_pct=44,
            integration_target="E-commerce platform",
            accountable_owner="Isabel Cruz",
        ),
        approved_months_ago=17,
        stage_months_ago=5,
        target_production_months=2,
        kpi_deadline_months=4,
        technical=[
            Technical(
                "roc_auc",
                lab=[(70, 0.78), (30, 0.82), (0, 0.83)],
                live=[(60, 0.76), (30, 0.81), (0, 0.82)],
                noise=0.005,
            )
        ],
        business=Series("revenue_per_visit", [(60, 3.20), (30, 3.36), (0, 3.50)], noise=0.03, decimals=2),
        active_users=[(60, 6), (30, 24), (0, 26)],
        teams=[Team("Pricing analysts", "Analyst", 30, {2: (HEALTHY, 0.8), 3: (HEALTHY, 0.8)})],
        upload_every_weeks=1,
    ),
    Story(  # Healthy: recommendation precision and revenue per visitor rise together; go-live planned.
        _record(
            "MK-02",
            "Personalised recommendations",
            "Marketing",
            "Recommends products on the website and in e-mails.",
            "pilot",
            owner="Noah Fischer",
            executive_sponsor="Mark Jensen",
            sponsor_level="vp",
            change_champion="Anna Berg",
            vendor="RecoEngine",
            budget=1_300_000,
            spend_to_date=1_120_000,
            target_users=20,
            kpi_name="Revenue per visitor",
            kpi_baseline=2.10,
            kpi_target=2.50,
            kpi_unit="$",
            **ALL_YES,
            data_effort_pct=40,
            integration_target="E-commerce platform",
            accountable_owner="Noah Fischer",
        ),
        approved_months_ago=16,
        stage_months_ago=15,
        target_production_months=2,
        kpi_deadline_months=4,
        technical=[Technical("precision", lab=[(66, 0.21), (0, 0.34)], live=[(56, 0.225), (0, 0.33)], noise=0.004)],
        business=Series("revenue_per_visitor", [(56, 2.10), (28, 2.24), (0, 2.38)], noise=0.03, decimals=2),
        active_users=[(56, 5), (30, 16), (0, 18)],
        teams=[Team("E-commerce team", "Analyst", 20, {1: (HEALTHY, 0.8), 2: (HEALTHY, 0.8), 3: (HEALTHY, 0.75)})],
    ),
    Story(  # Cancelled: no champion, no sponsor, marketing managers never wanted it.
        _record(
            "MK-03",
            "Campaign uplift modelling",
            "Marketing",
            "Predicted which customers a campaign would actually change.",
            "cancelled",
            owner="Emma Wilson",
            executive_sponsor="",
            sponsor_level="none",
            change_champion="none",
            vendor="UpliftCo",
            budget=800_000,
            spend_to_date=760_000,
            target_users=40,
            kpi_name="Campaign ROI",
            kpi_baseline=1.8,
            kpi_target=2.4,
            kpi_unit="x",
            **_yes("pipeline_automated", "data_quality_monitored"),
            **_no("change_plan", "training_ready"),
            data_effort_pct=35,
            integration_target="Marketing automation",
        ),
        approved_months_ago=24,
        stage_months_ago=2,
        target_production_months=-10,
        kpi_deadline_months=-3,
        technical=[
            Technical("roc_auc", lab=[(100, 0.70), (40, 0.76), (10, 0.76)], live=[(76, 0.68), (10, 0.73)], noise=0.005)
        ],
        business=Series("campaign_roi", [(76, 1.8), (10, 1.82)], noise=0.05, decimals=2, every=4),
        active_users=[(76, 3), (40, 5), (10, 4)],
        teams=[Team("Marketing managers", "Manager", 40, {1: (DESIRE_GAP, 0.5), 2: ((4.0, 2.1, 3.3, 3.1, 2.6), 0.4)})],
        data_ends_weeks_ago=9,
    ),
    Story(  # Proposed: business case only.
        _record(
            "MK-04",
            "Customer lifetime value",
            "Marketing",
            "Estimates each customer's future value to steer acquisition spend.",
            "proposed",
            owner="Lily Evans",
            executive_sponsor="Mark Jensen",
            sponsor_level="vp",
            budget=500_000,
            spend_to_date=0,
            target_users=15,
            kpi_name="Customer acquisition payback",
            kpi_baseline=14,
            kpi_target=10,
            kpi_unit="months",
            **_yes("change_plan"),
        ),
        approved_months_ago=None,
        stage_months_ago=2,
        target_production_months=12,
        kpi_deadline_months=15,
    ),
]

COMMENTS = {
    "awareness": [
        "I only heard about this tool last week.",
        "Nobody explained why we are changing the current process.",
        "What problem is this supposed to solve for us?",
    ],
    "desire": [
        "The rosters I build by hand know my people; the tool does not.",
        "Feels like the first step to taking decisions away from us.",
        "I don't see what's in it for my team.",
        "We were not asked before this was decided.",
    ],
    "knowledge": [
        "Training was a 20-minute video. I still don't know when to override it.",
        "Where do I find the suggestions in the CRM screen?",
        "Need hands-on sessions <30 min, not slides.",
    ],
    "ability": [
        "It works in training but on a busy shift I don't have time to check it.",
        "The screen is too slow to use during a call.",
        "I need my team lead's help every time something looks odd.",
    ],
    "reinforcement": [
        "Nobody checks whether we use it, so most people went back to the old way.",
        "Would be good to see the results it achieved for our store.",
        "We got no feedback after the first month.",
    ],
    "none": [
        "Useful. Saves me time every day.",
        "Works well; would like it for more products.",
        "**Great** tool — please keep improving the #1 screen.",
        "Happy with it.",
    ],
}


# -- two past steering meetings and what they decided ----------------------------------------------------
# So a newcomer sees the flow at once: each meeting reviewed the portfolio as it stood that morning
# (its pinned view), decided about a few of the story pilots, and the second meeting replaced one of
# the first meeting's decisions. Days count back from the demo's "now" (a Thursday); due dates count
# from the meeting. As shipped: FN-01's decision is overdue, SC-01's falls due within the week, the
# others are open; conditions tied to a warning sign read met (MK-02) or not met (SC-01, FN-01, RO-05).


@dataclass(frozen=True)
class DemoDecision:
    pilot_id: str
    decision: str  # one of meetings.DECISIONS
    owner: str
    due_days: int  # days after the meeting
    conditions: str
    signal_key: str | None = None


@dataclass(frozen=True)
class DemoMeeting:
    days_ago: int  # before the demo's now
    decisions: tuple[DemoDecision, ...]


MEETINGS = (
    DemoMeeting(
        56,
        (
            DemoDecision(
                "SC-01",
                "fix and review",
                "Priya Shah, supply-chain data lead",
                28,
                "Automate the feed from the stores' sales system and agree data-quality checks with its owner.",
                "no_automated_pipeline",
            ),
            DemoDecision(
                "FN-01",
                "fix and review",
                "Tom Becker, credit-risk model owner",
                49,
                "Set up drift alerts and bring live performance back to its first live weeks.",
                "live_decay",
            ),
            DemoDecision(
                "MK-02",
                "continue",
                "Lena Novak, marketing analytics",
                84,
                "Keep the KPI on plan through the peak season before asking to scale.",
                "kpi_behind_plan",
            ),
        ),
    ),
    DemoMeeting(
        28,
        (
            DemoDecision(
                "SC-01",
                "pause",
                "Priya Shah, supply-chain data lead",
                33,
                "No new stores until the sales feed is automated; bring the pipeline's status to the next meeting.",
                "no_automated_pipeline",
            ),
            DemoDecision(
                "RO-05",
                "fix and review",
                "Marco Rossi, store operations",
                49,
                "Start loading live results and the business KPI, so the pilot can be judged on them.",
                "no_live_data",
            ),
            DemoDecision(
                "CS-03",
                "scale",
                "Aisha Khan, customer service",
                56,
                "Roll out to the second contact centre with its team leads trained first.",
            ),
        ),
    ),
)
