"""Where a ticket's latency goes, hop by hop, from the database's own timestamps.

Run after a bench run kept its stack (``--keep-stack``), or against ``DATABASE_URL``:

    python -m bench.hops                 # the households flagged in the last 28 s
    python -m bench.hops --seconds 10

Per household whose housing flag was written in the window: the flag's outbox row
``created_at`` (Dinsos's transaction start) → ``sent_at`` (acknowledged by the broker), →
Public Works' inbox ``processed_at`` (its transaction start; it can precede ``sent_at``,
which is stamped after the acknowledgement), its first ticket's outbox ``created_at`` →
``sent_at``, → ``timeline.entries.recorded_at``. Printed: p50 / p90 / p99 of each hop, and
each hop's mean over the slowest 1 %.
"""

import argparse
import asyncio
import math
import os
from datetime import timedelta
from pathlib import Path

import asyncpg

from bench.baselines import asyncpg_dsn
from contracts.catalogue import PUBLIC_WORKS_TICKET, SOCIAL_HOUSING

INTAKE_CONSUMER = "social.intake"
TICKET_OPENED = "public_works.ticket.opened.v1"
HOPS = ("dinsos", "to_public_works", "public_works", "to_timeline", "total")
QUERY = """
WITH flags AS (
  SELECT key, event_id, created_at, sent_at FROM social.outbox
  WHERE topic = $1 AND created_at > (SELECT max(created_at) FROM social.outbox) - $3::interval),
tickets AS (
  SELECT DISTINCT ON (key) key, created_at, sent_at FROM public_works.outbox
  WHERE topic = $2 ORDER BY key, id),
entries AS (
  SELECT household_ref, min(recorded_at) AS recorded_at FROM timeline.entries
  WHERE type = $4 GROUP BY household_ref)
SELECT extract(epoch FROM f.sent_at - f.created_at) * 1000 AS dinsos,
       extract(epoch FROM i.processed_at - f.sent_at) * 1000 AS to_public_works,
       extract(epoch FROM t.sent_at - t.created_at) * 1000 AS public_works,
       extract(epoch FROM e.recorded_at - t.sent_at) * 1000 AS to_timeline,
       extract(epoch FROM e.recorded_at - f.created_at) * 1000 AS total
FROM flags f
JOIN public_works.inbox i ON i.event_id = f.event_id AND i.consumer = 'public_works.housing_flags'
JOIN tickets t ON t.key = f.key
JOIN entries e ON e.household_ref = f.key
"""


SEGMENTS = ("to_dinsos", "dinsos", "to_public_works", "public_works", "to_timeline")
"""A ticket's latency from its intake's publication, in parts that add up to it: published
→ Dinsos's transaction starts (its inbox ``processed_at``) → the flag acknowledged
(``sent_at``) → Public Works' transaction starts (the ticket's ``created_at``) → the ticket
acknowledged → on the timeline (``recorded_at``)."""

# One row per ticketed household of the latency phase: its intake's event id, its ref and
# when the bench handed the intake to the producer (database clock, epoch seconds).
SEGMENTS_SQL = f"""
WITH sent AS (
  SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:refs AS text[]), CAST(:at AS float8[]))
    AS s(event_id, ref, at)),
flags AS (
  SELECT DISTINCT ON (key) key, sent_at FROM social.outbox
  WHERE topic = :flag_topic AND key = ANY(CAST(:refs AS text[])) ORDER BY key, id),
tickets AS (
  SELECT DISTINCT ON (key) key, created_at, sent_at FROM public_works.outbox
  WHERE topic = :ticket_topic AND key = ANY(CAST(:refs AS text[])) ORDER BY key, id),
entries AS (
  SELECT household_ref, min(recorded_at) AS recorded_at FROM timeline.entries
  WHERE type = :ticket_type AND household_ref = ANY(CAST(:refs AS text[]))
  GROUP BY household_ref)
SELECT (extract(epoch FROM i.processed_at) - s.at) * 1000 AS to_dinsos,
       extract(epoch FROM f.sent_at - i.processed_at) * 1000 AS dinsos,
       extract(epoch FROM t.created_at - f.sent_at) * 1000 AS to_public_works,
       extract(epoch FROM t.sent_at - t.created_at) * 1000 AS public_works,
       extract(epoch FROM e.recorded_at - t.sent_at) * 1000 AS to_timeline
FROM sent s
JOIN social.inbox i ON i.event_id = s.event_id AND i.consumer = '{INTAKE_CONSUMER}'
JOIN flags f ON f.key = s.ref
JOIN tickets t ON t.key = s.ref
JOIN entries e ON e.household_ref = s.ref
"""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[max(0, math.ceil(q / 100 * len(values)) - 1)]


def segment_percentiles(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """p50 / p90 / p99 (nearest rank, ms) of each of ``SEGMENTS`` over ``rows``."""
    if not rows:
        return {}
    out: dict[str, dict[str, float]] = {}
    for segment in SEGMENTS:
        values = sorted(r[segment] for r in rows)
        out[segment] = {f"p{q}": round(percentile(values, q), 1) for q in (50, 90, 99)}
    return out


async def hops(database_url: str, seconds: float) -> list[dict[str, float]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(QUERY, SOCIAL_HOUSING.name, PUBLIC_WORKS_TICKET.name,
                                timedelta(seconds=seconds), TICKET_OPENED)
    finally:
        await conn.close()
    return [{h: float(r[h]) for h in HOPS} for r in rows]


def report(rows: list[dict[str, float]]) -> str:
    if not rows:
        return "no household with a flag, a ticket and its timeline entry in the window"
    def pct(hop: str, q: float) -> float:
        values = sorted(r[hop] for r in rows)
        return values[round(q * (len(values) - 1))]
    slowest = sorted(rows, key=lambda r: r["total"])[-max(1, len(rows) // 100):]
    lines = [f"{len(rows)} households; ms, p50 / p90 / p99, and the mean of the slowest 1 %"]
    for hop in HOPS:
        mean = sum(r[hop] for r in slowest) / len(slowest)
        lines.append(f"  {hop:16} {pct(hop, .5):7.0f} {pct(hop, .9):7.0f} {pct(hop, .99):7.0f}"
                     f"   {mean:7.0f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.hops", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=28.0,
                   help="households flagged in this many seconds before the last flag")
    p.add_argument("--stack-dir", type=Path, default=Path(".stack/bench"))
    args = p.parse_args()
    url, source = os.environ.get("DATABASE_URL"), "DATABASE_URL"
    if url is None:
        from services.stack.common import StackError
        from services.stack.stack import Stack
        try:
            url, source = Stack(args.stack_dir).env()["DATABASE_URL"], str(args.stack_dir)
        except StackError as exc:
            raise SystemExit(f"bench.hops: no stack in {args.stack_dir}: {exc} (run the bench "
                             "with --keep-stack first, or set DATABASE_URL)") from exc
    try:
        print(report(asyncio.run(hops(url, args.seconds))))
    except (OSError, asyncpg.PostgresError) as exc:
        raise SystemExit(f"bench.hops: cannot read the database of {source}: {exc}"
                         " (run the bench with --keep-stack first)") from exc


if __name__ == "__main__":
    main()
