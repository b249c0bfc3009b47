"""Synthetic province: seeded, deterministic households and a year of what happens to them.

Households are spread over the ten kabupaten/kota in proportion to their number of poor
people (``contracts/kaltim_regions.csv``). Each household gets a plan: its intake record,
what Public Works does with each need, a grant and mentoring if eligible, monthly income,
and each school-age child's monthly attendance. The simulation replays the plans.
"""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from contracts.events.intake import (
    FloorMaterial,
    HouseholdIntake,
    HousingSurvey,
    Member,
    Relation,
)
from contracts.events.public_works import RejectionReason
from contracts.events.social import HousingNeed
from contracts.regions import kaltim_regions
from services.demo.calendar import month_day
from services.social.rules import housing_needs

MONTHS = 12
VILLAGES = ("Loa Janan", "Tenggarong Seberang", "Sungai Kunjang", "Long Bagun", "Sangatta Utara",
            "Tanah Grogot", "Melak", "Tanjung Redeb", "Babulu", "Loktuan", "Manggar")
BUSINESSES = ("warung kelontong", "kue basah", "jahit", "bengkel motor", "ternak ayam",
              "anyaman rotan", "ikan asin")
MENTORS = ("Ibu Sari", "Pak Rahmat", "Ibu Dewi", "Pak Yusuf", "Ibu Nur")


@dataclass(frozen=True)
class TicketPlan:
    need: HousingNeed
    scheduled: int
    started: int
    done: int
    rejection: RejectionReason | None = None
    """Rejected in month ``done`` with this reason; Dinsos acknowledges it a month later."""


@dataclass(frozen=True)
class GrantPlan:
    amount: int
    business_type: str
    mentor: str


@dataclass
class HouseholdPlan:
    intake: HouseholdIntake
    tickets: list[TicketPlan] = field(default_factory=list)
    grant: GrantPlan | None = None
    incomes: list[int] = field(default_factory=list)
    """Monthly income for months 1..12."""
    attendance: dict[str, list[float]] = field(default_factory=dict)
    """Monthly attendance % per school-age child's NIK, months 1..12."""


def allocate(total: int) -> dict[str, int]:
    """Households per region, proportional to its poor people (largest remainder)."""
    regions = kaltim_regions()
    poor = sum(r.poor_people for r in regions.values())
    exact = {code: total * r.poor_people / poor for code, r in regions.items()}
    counts = {code: int(x) for code, x in exact.items()}
    by_remainder = sorted(exact, key=lambda c: exact[c] - counts[c], reverse=True)
    for code in by_remainder[: total - sum(counts.values())]:
        counts[code] += 1
    return counts


def generate(total: int, seed: int = 2024, start: date = date(2025, 1, 1)) -> list[HouseholdPlan]:
    rng = random.Random(seed)
    plans = []
    serial = 0
    for region, count in sorted(allocate(total).items()):
        for _ in range(count):
            serial += 1
            plans.append(_household(rng, region, serial, start))
    return plans


def _nik(region: str, born: date, serial: int) -> str:
    # Shaped like a NIK (region, birth date, serial) but synthetic: no real person's number.
    return f"{region}99{born:%d%m%y}{serial % 10000:04d}"


def _household(rng: random.Random, region: str, serial: int, start: date) -> HouseholdPlan:
    members = [_member(rng, region, Relation.HEAD, rng.randint(25, 60), start, serial * 10)]
    if rng.random() < 0.8:
        members.append(_member(rng, region, Relation.SPOUSE, rng.randint(22, 58), start,
                               serial * 10 + 1))
    for i in range(rng.choice((0, 1, 2, 2, 3, 3, 4))):
        members.append(_member(rng, region, Relation.CHILD, rng.randint(1, 19), start,
                               serial * 10 + 2 + i))
    survey = HousingSurvey(
        has_clean_water=rng.random() < 0.65, has_healthy_latrine=rng.random() < 0.6,
        floor_material=rng.choices(list(FloorMaterial), weights=(15, 30, 45, 10))[0],
        walls_fit=rng.random() < 0.75, roof_fit=rng.random() < 0.8,
        floor_area_m2=float(rng.randint(20, 72)),
    )
    poor = rng.random() < 0.75
    income = rng.randint(12, 44) * 100_000 if poor else rng.randint(46, 60) * 100_000
    intake = HouseholdIntake(
        kk_number=f"{region}99{serial:010d}", region_code=region,
        village=rng.choice(VILLAGES), members=members, housing=survey,
        monthly_income=income, assessed_on=start,
    )
    plan = HouseholdPlan(intake)
    plan.tickets = [_ticket(rng, need) for need in housing_needs(survey, len(members))]
    if poor and rng.random() < 0.8:
        plan.grant = GrantPlan(rng.randint(4, 20) * 500_000, rng.choice(BUSINESSES),
                               rng.choice(MENTORS))
    plan.incomes = _incomes(rng, income, plan.grant is not None)
    for m in members:
        age = (start - m.birth_date).days // 365
        if m.relation is Relation.CHILD and 7 <= age <= 18:
            plan.attendance[m.nik] = _attendance(rng)
    return plan


def _member(rng: random.Random, region: str, relation: Relation, age: int, start: date,
            serial: int) -> Member:
    born = start - timedelta(days=age * 365 + rng.randint(0, 300))
    return Member(nik=_nik(region, born, serial), birth_date=born, relation=relation)


def _ticket(rng: random.Random, need: HousingNeed) -> TicketPlan:
    scheduled = rng.randint(1, 2)
    started = scheduled + rng.randint(0, 1)
    length = 3 if need is HousingNeed.HOUSE_REHABILITATION else 1
    done = min(started + length + rng.randint(0, 2), MONTHS - 1)
    if rng.random() < 0.08:
        return TicketPlan(need, scheduled, started, done, rng.choice(list(RejectionReason)))
    return TicketPlan(need, scheduled, started, done)


def _incomes(rng: random.Random, base: int, grant: bool) -> list[int]:
    incomes, income = [], base
    for month in range(1, MONTHS + 1):
        if grant and month >= 3:
            income = int(income * rng.uniform(1.04, 1.16))
        else:
            income = int(income * rng.uniform(0.97, 1.04))
        incomes.append(income // 1000 * 1000)
    return incomes


def _attendance(rng: random.Random) -> list[float]:
    months = [round(rng.uniform(88, 100), 1) for _ in range(MONTHS)]
    roll = rng.random()
    if roll < 0.12:  # one bad month: an alert only
        months[rng.randint(0, MONTHS - 1)] = round(rng.uniform(55, 84), 1)
    elif roll < 0.22:  # two bad months in a row: dropout risk, then back to school
        first = rng.randint(0, MONTHS - 4)
        months[first] = round(rng.uniform(50, 84), 1)
        months[first + 1] = round(rng.uniform(40, 84), 1)
        if roll > 0.19:  # a few never come back within the year
            for m in range(first + 2, MONTHS):
                months[m] = round(rng.uniform(30, 80), 1)
    return months


def report_date(start: date, month: int) -> date:
    return month_day(start, month, 28)
