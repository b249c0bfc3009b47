"""Deterministic sample households, as the Dinsos case system would submit them."""

import random
from datetime import UTC, date, datetime, timedelta

from aiokafka import AIOKafkaProducer

from contracts.catalogue import SOCIAL_INTAKE
from contracts.codec import encode
from contracts.envelope import Envelope, new_envelope
from contracts.events.intake import FloorMaterial, HouseholdIntake, HousingSurvey, Member, Relation
from contracts.regions import kaltim_regions

VILLAGES = ("Loa Janan", "Tenggarong Seberang", "Sungai Kunjang", "Long Bagun", "Sangatta Utara")


def _nik(rng: random.Random, region_code: str, born: date) -> str:
    # Shaped like a NIK (region, birth date, serial) but random: no real person's number.
    return f"{region_code}{rng.randint(10, 99)}{born:%d%m%y}{rng.randint(1, 9999):04d}"


def sample_household(rng: random.Random, today: date) -> HouseholdIntake:
    region = rng.choice(sorted(kaltim_regions()))
    size = rng.randint(2, 7)
    members = []
    for i in range(size):
        relation = Relation.HEAD if i == 0 else Relation.SPOUSE if i == 1 else Relation.CHILD
        age_days = rng.randint(30 * 365, 55 * 365) if i < 2 else rng.randint(365, 18 * 365)
        born = today - timedelta(days=age_days)
        members.append(Member(nik=_nik(rng, region, born), birth_date=born, relation=relation))
    survey = HousingSurvey(
        has_clean_water=rng.random() < 0.6,
        has_healthy_latrine=rng.random() < 0.55,
        floor_material=rng.choice(list(FloorMaterial)),
        walls_fit=rng.random() < 0.7,
        roof_fit=rng.random() < 0.75,
        floor_area_m2=float(rng.randint(18, 80)),
    )
    return HouseholdIntake(
        kk_number=f"{region}{rng.randint(10**11, 10**12 - 1)}",
        region_code=region,
        village=rng.choice(VILLAGES),
        members=members,
        housing=survey,
        monthly_income=rng.randint(8, 60) * 100_000,
        assessed_on=today,
    )


def sample_households(count: int, seed: int = 2024) -> list[HouseholdIntake]:
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    return [sample_household(rng, today) for _ in range(count)]


def intake_envelope(case_number: str) -> Envelope:
    return new_envelope(
        type="intake.household.v1", source="dinsos-case-system", subject=case_number,
        correlationid=case_number, causationid=None,
    )


async def publish_intake(
    producer: AIOKafkaProducer, intake: HouseholdIntake, case_number: str
) -> Envelope:
    """Publish one intake record, keyed by its KK number (the intake topic is Dinsos-only)."""
    envelope = intake_envelope(case_number)
    headers, payload = encode(envelope, intake)
    await producer.send_and_wait(
        SOCIAL_INTAKE.name, value=payload, key=intake.kk_number.encode(), headers=headers
    )
    return envelope
