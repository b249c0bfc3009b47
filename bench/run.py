"""``python -m bench``: throughput, latency and memory of Sinergi on the real stack.

Per size (N, and N·scale with ``--scale``): baselines (bare Kafka loop, bare asyncpg
inserts), each service alone draining its pre-filled input, the whole pipeline, and
latency at a fixed offered load. Uses ``.stack/bench`` unless KAFKA_BOOTSTRAP_SERVERS
and DATABASE_URL are both set; stops whatever it started.
"""

import argparse
import asyncio
import logging
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import baselines, floor, phases, profiling
from bench.cpu import CpuSplit
from bench.phases import Bench
from bench.probes import Meter
from bench.report import DEFINITIONS, print_result, ratios, write_json
from bench.workload import Households
from services.demo.deployment import all_definitions
from services.demo.quiesce import migrate_all
from services.runtime.db import make_engine
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.settings import Settings
from services.stack import Stack
from services.stack.common import free_port

REPO = Path(__file__).resolve().parents[1]
DEFAULT_HOUSEHOLDS = 50_000
BASELINE_MIN = 50_000
"""Records in the batched baselines at least (the same records again if N is smaller), so
they run for seconds, not milliseconds, and measure steadily."""
BASELINE_DISTINCT = 10_000
PER_RECORD = 500
"""Records through the one-at-a-time baselines: enough at their pace."""
PHASES = ("baselines", "alone", "pipeline", "latency")
ALONE_ORDER = ("social", "public_works", "education", "timeline")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--households", "-n", type=int, default=DEFAULT_HOUSEHOLDS,
                   help="N: households per run (default %(default)s)")
    p.add_argument("--scale", type=int, default=1,
                   help="also run N·scale households (e.g. 10); 1 runs N only")
    p.add_argument("--latency-rate", type=float, default=200.0,
                   help="offered households/s in the latency phase (default %(default)s)")
    p.add_argument("--latency-seconds", type=float, default=30.0,
                   help="measured seconds of offered load (default %(default)s)")
    p.add_argument("--latency-warmup", type=float, default=5.0,
                   help="seconds of offered load before samples count (default %(default)s)")
    p.add_argument("--phases", default=",".join(PHASES),
                   help="comma-separated subset of: " + ", ".join(PHASES))
    p.add_argument("--profile", default="",
                   help="comma-separated services to record with py-spy while each drains "
                        "alone (first size only): " + ", ".join(ALONE_ORDER))
    p.add_argument("--log-level", default=os.environ.get("SINERGI_LOG_LEVEL", "INFO"),
                   help="services' SINERGI_LOG_LEVEL (default INFO, as deployed)")
    p.add_argument("--warmup", type=int, default=50, help="households before timing")
    p.add_argument("--drain-timeout", type=float, default=1800.0)
    p.add_argument("--stack-dir", type=Path, default=REPO / ".stack" / "bench")
    p.add_argument("--keep-stack", action="store_true", help="leave a stack it started running")
    p.add_argument("--out", type=Path, help="JSON result path (default bench/results/<utc>.json)")
    args = p.parse_args(argv)
    unknown = set(args.phases.split(",")) - set(PHASES)
    args.profile_set = set(filter(None, args.profile.split(",")))
    unknown |= args.profile_set - set(ALONE_ORDER)
    if unknown:
        p.error(f"unknown phases or services: {', '.join(sorted(unknown))}")
    if args.profile_set:
        try:
            profiling.py_spy()
        except FileNotFoundError as missing:
            p.error(f"--profile needs py-spy: {missing}")
    return args


async def measure(settings: Settings, args: argparse.Namespace, console: Console,
                  result: dict[str, Any], infra: dict[str, list[int]]) -> None:
    await ensure_topics(settings.kafka_bootstrap_servers, settings.replication_factor)
    engine = make_engine(settings.database_url)
    definitions = all_definitions(settings)
    await migrate_all(engine, list(definitions.values()))
    meter = Meter(settings.kafka_bootstrap_servers, engine)
    producer = make_producer(settings.kafka_bootstrap_servers, "bench-agency-systems")
    await meter.start()
    await producer.start()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "DATABASE_URL": settings.database_url, "SINERGI_HTTP_PORT": str(free_port()),
           "SINERGI_LOG_LEVEL": args.log_level}
    logs = args.stack_dir / "logs"
    for old in logs.glob("*.log"):  # an earlier run's: at INFO a run writes hundreds of MB
        old.unlink()
    b = Bench(engine, meter, producer,
              Households(settings.pseudonym_key.get_secret_value().encode()), definitions, env,
              logs, args.drain_timeout, args.profile_set,
              Path(result["out"]).with_suffix(".profile"), infra=infra)
    try:
        console.print("settling: all services until every topic is consumed")
        await phases.settle(b, args.warmup)
        sizes = [args.households] + ([args.households * args.scale] if args.scale > 1 else [])
        for size in sizes:
            run: dict[str, Any] = {"households": size}
            result["runs"].append(run)
            await measure_size(b, settings, args, run, console)
            result["profiles"] = b.profiles
            b.profile = set()  # profiles of the first size only
    finally:
        await producer.stop()
        await meter.stop()
        await engine.dispose()


async def measure_size(b: Bench, settings: Settings, args: argparse.Namespace,
                       run: dict[str, Any], console: Console) -> None:
    """Every wanted phase for one size, results into ``run`` as they come."""
    wanted, size = set(args.phases.split(",")), run["households"]
    if "baselines" in wanted:
        console.print(f"[{size}] baselines")
        distinct = b.households.records(min(size, BASELINE_DISTINCT))
        records = [distinct[i % len(distinct)] for i in range(max(size, BASELINE_MIN))]
        tag = f"{os.getpid()}_{size}"
        kafka = settings.kafka_bootstrap_servers
        run["baselines"] = {
            "bare_loop": (await baselines.bare_loop(
                kafka, records, tag, split=CpuSplit(b.infra))).as_dict(),
            "bare_loop_per_record": (await baselines.bare_loop(
                kafka, records[:PER_RECORD], f"{tag}_1", per_record=True)).as_dict(),
            **{k: v.as_dict() for k, v in (await baselines.db_inserts(
                settings.database_url, records, tag)).items()},
            # The premise (about 0.5 with a transaction a batch), one answer a record.
            "outbox_loop": (await floor.outbox_loop(
                kafka, settings.database_url, records, f"{tag}_floor1",
                [[("echo", r.key, r.value, list(r.headers))] for r in distinct],
                split=CpuSplit(b.infra))).as_dict(),
        }
    if "alone" in wanted:
        run["alone"] = {}
        for name in ALONE_ORDER:
            console.print(f"[{size}] {name} alone")
            run["alone"][name] = await phases.alone(b, name, size)
            if name == "social" and "baselines" in run:
                console.print(f"[{size}] bare loop at Dinsos's fan-out")
                outputs = await baselines.emitted_per_household(
                    settings.database_url, "social", run["alone"]["social"]["produced"])
                run["baselines"]["bare_fan_out"] = (await baselines.bare_loop(
                    settings.kafka_bootstrap_servers, records, f"{tag}_fan_out",
                    outputs=outputs, split=CpuSplit(b.infra))).as_dict()
                console.print(f"[{size}] bare loop at Dinsos's fan-out, with inbox and outbox")
                run["baselines"]["outbox_fan_out"] = (await floor.outbox_loop(
                    settings.kafka_bootstrap_servers, settings.database_url, records,
                    f"{tag}_floor", outputs, split=CpuSplit(b.infra))).as_dict()
    if wanted & {"pipeline", "latency"}:
        console.print(f"[{size}] pipeline")
        run["pipeline"], procs = await phases.pipeline(b, size, args.warmup)
        try:
            if "latency" in wanted:
                console.print(f"[{size}] latency at {args.latency_rate:g} hh/s")
                run["latency"] = await phases.latency(
                    b, procs, args.latency_rate, args.latency_seconds, args.latency_warmup,
                    run["pipeline"]["households_per_second"])
            run["pipeline_peak_rss_mib"] = phases.peaks_mib(procs)
        finally:
            procs.stop()
    run["ratios"] = ratios(run)


def infra_pids(stack: Stack | None) -> dict[str, list[int]]:
    """PostgreSQL's postmaster and the Kafka nodes, when the stack runs them here."""
    if stack is None:
        return {}
    pids: dict[str, list[int]] = {}
    for part in stack.status():
        if part.state == "running" and part.pid:
            name = "postgresql" if part.name == "postgres" else "kafka"
            pids.setdefault(name, []).append(part.pid)
    return pids


def machine() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    return {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(),
            "python": platform.python_version(), "platform": platform.platform(),
            "commit": commit or None}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # A topic the bench just created answers NotLeaderForPartition for a moment; the
    # producer retries by itself, the warnings would only drown the output.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    console = Console(width=None if sys.stdout.isatty() else 150)
    out = args.out or write_json({}, None)  # reserve the timestamped name now
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(), "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()}, "out": str(out), "runs": [],
        "definitions": DEFINITIONS,
    }
    external = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL"))
    stack = None if external else Stack(args.stack_dir)
    began = time.monotonic()
    was_running: set[str] = set()
    try:
        if stack is not None:
            was_running = {s.name for s in stack.status() if s.state == "running"}
            console.print(f"stack in {args.stack_dir}")
            stack.up()
            os.environ.update(stack.env())  # for Settings() here and the service processes
        settings = Settings()
        result["service_settings"] = {  # what shapes the services' batches and relay
            k: getattr(settings, k)
            for k in ("batch_size", "batch_lanes", "relay_batch_size", "relay_process")}
        console.print("outbox relays: " + ("a process of their own (SINERGI_RELAY_PROCESS)"
                                           if settings.relay_process else
                                           "in each service's process"))
        asyncio.run(measure(settings, args, console, result, infra_pids(stack)))
    finally:
        if stack is not None and not was_running and not args.keep_stack:
            stack.down(purge=True)
        result["finished_at"] = datetime.now(UTC).isoformat()
        result["total_seconds"] = round(time.monotonic() - began, 1)
        result["machine"]["loadavg_at_end"] = os.getloadavg()
        write_json(result, Path(out))
    print_result(result, console)
    console.print(f"\nresult: {out}")
    return 0

