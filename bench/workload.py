"""What the bench offers the pipeline: registration intakes of households no run had before.

The generator's households (``services/demo/generator.py``) have the province's mix of
household sizes, housing needs and school-age children, but its KK and NIK numbers
depend on the serial only, so two runs (or two phases) would re-assess the same
households and open no new tickets. Each batch here gets numbers unique to the run.
"""

import itertools
import random
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from contracts.catalogue import SOCIAL_INTAKE
from contracts.codec import encode
from contracts.envelope import new_envelope
from contracts.events.intake import HouseholdIntake
from services.demo.generator import generate
from services.social.pseudonym import household_ref
from services.social.rules import housing_needs

DINSOS = "dinsos-case-system"


@dataclass(frozen=True)
class IntakeRecord:
    """One encoded intake record, ready to send, and what it should become."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    household_ref: str
    needs: int
    """Housing needs, so tickets expected for this household."""

    @property
    def size(self) -> int:
        return len(self.value) + sum(len(k) + len(v) for k, v in self.headers) + len(self.key)


class Households:
    """Fresh households: 16-digit KK and NIK numbers = region + run nonce + sequence."""

    def __init__(self, pseudonym_key: bytes, seed: int = 2024) -> None:
        self._key = pseudonym_key
        self._seed = seed
        self._nonce = random.SystemRandom().randrange(10_000)
        self._kk = itertools.count(1)
        self._nik = itertools.count(1)
        self._batch = itertools.count()

    def _number(self, region: str, serial: int) -> str:
        return f"{region}{self._nonce:04d}{serial:08d}"

    def intakes(self, count: int) -> list[HouseholdIntake]:
        plans = generate(count, seed=self._seed + next(self._batch))
        fresh = []
        for plan in plans:
            intake = plan.intake
            region = intake.region_code
            members = [m.model_copy(update={"nik": self._number(region, next(self._nik))})
                       for m in intake.members]
            kk = self._number(region, next(self._kk))
            fresh.append(intake.model_copy(update={"kk_number": kk, "members": members}))
        return fresh

    def records(self, count: int) -> list[IntakeRecord]:
        """``count`` intake records encoded as the Dinsos case system publishes them."""
        out = []
        for intake in self.intakes(count):
            envelope = new_envelope(type="intake.household.v1", source=DINSOS,
                                    subject=intake.kk_number, correlationid=intake.kk_number,
                                    causationid=None)
            headers, payload = encode(envelope, intake)
            needs = len(housing_needs(intake.housing, len(intake.members)))
            out.append(IntakeRecord(intake.kk_number.encode(), payload, headers,
                                    household_ref(self._key, intake.kk_number), needs))
        return out


async def send_all(producer: AIOKafkaProducer, records: list[IntakeRecord],
                   topic: str = SOCIAL_INTAKE.name) -> None:
    """Queue every record, then wait for all acknowledgements (the producer batches them)."""
    for r in records:
        await producer.send(topic, value=r.value, key=r.key, headers=r.headers)
    await producer.flush()
