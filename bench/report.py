"""The printed table and the JSON result file."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"

DEFINITIONS = {
    "events_per_second": "pipeline: inbox rows committed by all services (every consumed record "
                         "handled to the end: one per service that reads it) divided by the "
                         "window from just before the first intake is published to the last "
                         "commit or outbox relay of any service (database clock)",
    "produced_per_second": "pipeline: outbox rows written by all services over the same window",
    "households_per_second": "pipeline: N over the same window",
    "alone.per_second": "inbox rows of that service over first inbox commit → last inbox "
                        "commit or outbox relay (process start-up excluded)",
    "bare_loop.per_second": "records consumed and produced over first fetch → last commit",
    "bare_fan_out.per_second": "records consumed over first fetch → last commit, each answered "
                               "with the records Dinsos emitted for one household in its "
                               "alone phase (bare_fan_out.produced in all)",
    "outbox_loop.per_second": "the same as bare_loop, with one transaction a batch writing an "
                              "inbox row and an outbox row a record, marked sent once the "
                              "broker acknowledged them (bench/floor.py)",
    "outbox_fan_out.per_second": "the same as bare_fan_out, with one transaction a batch "
                                 "writing an inbox row a record and the answers' outbox rows, "
                                 "marked sent once the broker acknowledged them (bench/floor.py)",
    "baselines.*.cpu_us_per_record": "CPU µs per record consumed over the same window: "
                                     "postgresql, kafka, rest (the bench's loop and everything "
                                     "else), machine",
    "social_alone_vs_fan_out": "Dinsos alone over the bare loop at Dinsos's fan-out, same run",
    "social_alone_vs_outbox_fan_out": "Dinsos alone over outbox_fan_out, same run",
    "latency": "per ticket: timeline.entries.recorded_at of public_works.ticket.opened.v1 "
               "minus the time its household's intake was handed to the producer "
               "(database clock corrected to this machine's)",
    "latency.parts_ms": "the same latency in parts that add up to it, p50 / p90 / p99 of each "
                        "over the ticketed households (parts_households): published → Dinsos's "
                        "transaction starts (its inbox processed_at) → the flag acknowledged "
                        "(outbox sent_at) → Public Works' transaction starts (the ticket's "
                        "outbox created_at) → the ticket acknowledged → on the timeline",
    "alone.cpu_share": "CPU time (user + system, /proc/<pid>/stat) the service process and "
                       "its relay's process (SINERGI_RELAY_PROCESS) used from its first "
                       "offset commit to the end of the drain, over the share of the "
                       "alone.per_second window that the records still to do at that commit "
                       "make up",
    "alone.cpu_share_consumers": "the same for the service process alone (its consumers, "
                                 "without its relay's process)",
    "alone.waiting_share_consumers": "the time the service process's live threads spent "
                                     "ready to run but waiting for a core "
                                     "(/proc/<pid>/task/*/schedstat), over the same window: "
                                     "with cpu_share_consumers near 1.0 its one Python "
                                     "thread is the limit, on a machine whose cores it "
                                     "shares with PostgreSQL and Kafka",
    "cpu_us_per_record": "alone: CPU time (user + system from /proc) from the first offset "
                         "commit to the end of the drain, per record still to do at that "
                         "commit, of the service process, PostgreSQL (postmaster and "
                         "backends), the Kafka node(s), the rest of the machine (the bench "
                         "itself included), and the machine's total",
    "cpu_us_per_household": "pipeline and latency: the same per household offered, each "
                            "service process apart (latency: over the offered load only)",
    "machine_busy_cores": "the machine's busy CPU seconds (/proc/stat) over the phase's "
                          "seconds: 2.0 is every core of this 2-core machine",
    "peak_rss_mib": "VmHWM from /proc/<pid>/status just before the process is stopped",
}


def ratios(run: dict[str, Any]) -> dict[str, float | None]:
    """Each measured rate over the bare consume → produce loop's messages/s, same run."""
    loop = run.get("baselines", {}).get("bare_loop", {}).get("per_second")
    if not loop:
        return {}
    out: dict[str, float | None] = {}
    if "pipeline" in run:
        out["pipeline"] = round(run["pipeline"]["events_per_second"] / loop, 3)
    for name, res in run.get("alone", {}).items():
        out[f"{name}_alone"] = round(res["per_second"] / loop, 3)
    if rate := run.get("baselines", {}).get("outbox_loop", {}).get("per_second"):
        out["outbox_loop"] = round(rate / loop, 3)
    for key, versus in (("bare_fan_out", "social_alone_vs_fan_out"),
                        ("outbox_fan_out", "social_alone_vs_outbox_fan_out")):
        if rate := run["baselines"].get(key, {}).get("per_second"):
            out[key] = round(rate / loop, 3)
            out[versus] = round(run["alone"]["social"]["per_second"] / rate, 3)
    return out


def write_json(result: dict[str, Any], path: Path | None = None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = path or RESULTS / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def _rate(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:,.0f} {unit}"


def table(run: dict[str, Any]) -> Table:
    n = run["households"]
    t = Table(title=f"Sinergi bench, N = {n:,} households", title_justify="left")
    for col, just in (("measurement", "left"), ("count", "right"), ("seconds", "right"),
                      ("rate", "right"), ("/ bare loop", "right"), ("peak RSS", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    r = ratios(run)
    base = run.get("baselines", {})
    fan_out = base.get("bare_fan_out", {})
    per = fan_out["produced"] / fan_out["count"] if fan_out.get("count") else 0.0
    names = {"bare_loop": "bare aiokafka consume → produce (batches of 500)",
             "outbox_loop": "bare loop with an inbox row and an outbox row a record (one "
                            "transaction a batch, marked sent once acknowledged)",
             "bare_fan_out": "bare loop at Dinsos's fan-out (each record consumed → one "
                             f"household's Dinsos records, {per:.1f} a record)",
             "outbox_fan_out": "bare loop at Dinsos's fan-out with an inbox row and its "
                               "outbox rows (as above)",
             "bare_loop_per_record": "bare loop, one record at a time (send, await, commit)",
             "executemany": "asyncpg executemany, 500 rows per transaction",
             "copy": "asyncpg COPY, 500 rows per transaction",
             "row_per_tx": "asyncpg one row per transaction"}
    for key, label in names.items():
        if key in base:
            b = base[key]
            unit = "msg/s" if key.startswith(("bare", "outbox")) else "rows/s"
            rel = "1.000" if key == "bare_loop" else _ratio(r.get(key), "")
            t.add_row(label, f"{b['count']:,}", f"{b['seconds']:.2f}",
                      _rate(b["per_second"], unit), rel, "")
    if base:
        t.add_section()
    for name, a in run.get("alone", {}).items():
        t.add_row(f"{name} alone (drains its pre-filled input{busy_text(a)})",
                  f"{a['consumed']:,}", f"{a['seconds']:.2f}", _rate(a["per_second"], "msg/s"),
                  _ratio(r.get(f"{name}_alone")), _mib(a["peak_rss_mib"]))
        for versus, label in (("social_alone_vs_fan_out", "bare loop at Dinsos's fan-out"),
                              ("social_alone_vs_outbox_fan_out",
                               "bare loop at Dinsos's fan-out with inbox and outbox")):
            if name == "social" and versus in r:
                t.add_row(f"  social alone / {label}", "", "", "", _ratio(r[versus]), "")
    if "pipeline" in run:
        p = run["pipeline"]
        t.add_section()
        t.add_row("pipeline: events consumed, all services", f"{p['events_consumed']:,}",
                  f"{p['seconds']:.2f}", _rate(p["events_per_second"], "ev/s"),
                  _ratio(r.get("pipeline")), "")
        t.add_row("pipeline: events produced (outbox rows)", f"{p['events_produced']:,}",
                  "", _rate(p["produced_per_second"], "ev/s"), "", "")
        t.add_row("pipeline: households", f"{p['households']:,}", "",
                  _rate(p["households_per_second"], "hh/s"), "", "")
        for name, mib in run.get("pipeline_peak_rss_mib", {}).items():
            t.add_row(f"  {name} process (pipeline + latency)", "", "", "", "", _mib(mib))
    if "latency" in run:
        lat = run["latency"]
        t.add_section()
        t.add_row(f"latency intake → ticket on timeline at {lat['offered_per_second']:g} hh/s "
                  f"offered ({lat['achieved_per_second']:g} achieved)",
                  f"{lat['samples']:,}", "",
                  f"p50 {_ms(lat['p50_ms'])} p95 {_ms(lat['p95_ms'])} p99 {_ms(lat['p99_ms'])}",
                  "", "")
        for part, label in PART_LABELS.items():
            if part in lat.get("parts_ms", {}):
                q = lat["parts_ms"][part]
                t.add_row(f"  {label}", f"{lat['parts_households']:,}", "",
                          f"p50 {_ms(q['p50'])} p90 {_ms(q['p90'])} p99 {_ms(q['p99'])}", "", "")
    return t


PART_LABELS = {
    "to_dinsos": "intake published → Dinsos's transaction starts",
    "dinsos": "→ its housing flag acknowledged by the broker",
    "to_public_works": "→ Public Works' transaction starts",
    "public_works": "→ the ticket acknowledged by the broker",
    "to_timeline": "→ the ticket on the timeline",
}
"""The latency's parts (``bench.hops.SEGMENTS``), as the table names them."""


def _ratio(value: float | None, missing: str = "—") -> str:
    return missing if value is None else f"{value:.3f}"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} MiB"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def scaling(runs: list[dict[str, Any]]) -> Table:
    """The same measurements side by side for each size: how cost grows from N to 10·N."""
    t = Table(title="Scaling", title_justify="left")
    t.add_column("measurement")
    for run in runs:
        t.add_column(f"N = {run['households']:,}", justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("bare loop msg/s", [_rate(r.get("baselines", {}).get("bare_loop", {}).get("per_second"),
                                   "") for r in runs]),
        *[(f"{name} alone msg/s", [_rate(r.get("alone", {}).get(name, {}).get("per_second"), "")
                                   for r in runs])
          for name in ("social", "public_works", "education", "timeline")],
        ("pipeline events/s", [_rate(r.get("pipeline", {}).get("events_per_second"), "")
                               for r in runs]),
        ("pipeline households/s", [_rate(r.get("pipeline", {}).get("households_per_second"), "")
                                   for r in runs]),
        ("pipeline / bare loop", [_ratio(r.get("ratios", {}).get("pipeline")) for r in runs]),
        ("latency p99", [_ms(r.get("latency", {}).get("p99_ms")) for r in runs]),
        ("largest peak RSS", [_mib(max(filter(None, r.get("pipeline_peak_rss_mib", {}).values()),
                                       default=None)) for r in runs]),
    ]
    for label, values in rows:
        t.add_row(label, *values)
    return t


_PARTS = ("social", "public_works", "education", "timeline", "postgresql", "kafka", "rest")


def busy_text(alone: dict[str, Any]) -> str:
    """How busy a service was alone: its processes together; its consumers' process apart
    when its relay's process made a difference; and how long that one waited for a core."""
    total, consumers = alone.get("cpu_share"), alone.get("cpu_share_consumers")
    waiting = alone.get("waiting_share_consumers")
    if total is None:
        return ""
    text = f", {total:.0%} of a core busy"
    if consumers is not None and round(consumers, 2) != round(total, 2):
        text += f", {consumers:.0%} in its consumers' process"
    if waiting is not None:
        text += f"; ready but waiting for a core {waiting:.0%} of the time"
    return text


def cores_bound(machine_us: float | None, cores: int | None) -> float | None:
    """The most units a second ``cores`` fully busy allow at ``machine_us`` of the machine's
    CPU per unit: what no change of parallelism alone can pass."""
    if not machine_us or not cores:
        return None
    return cores * 1_000_000 / machine_us


BASELINE_CPU_LABELS = {
    "bare_loop": "bare loop, per record",
    "outbox_loop": "bare loop with inbox and outbox, per record",
    "bare_fan_out": "bare loop at Dinsos's fan-out, per record",
    "outbox_fan_out": "bare loop at Dinsos's fan-out with inbox and outbox, per record",
}


def cpu_table(run: dict[str, Any], cores: int | None = None) -> Table | None:
    """CPU time per unit of work by process, and the machine's busy cores, per phase; for a
    service alone, the rate every core allows at that cost (``cores_bound``), and its
    ratio to the bare loop."""
    base = run.get("baselines", {})
    phases = [(label, base[key]) for key, label in BASELINE_CPU_LABELS.items() if key in base]
    phases += [(f"{name} alone, per record", a) for name, a in run.get("alone", {}).items()]
    phases += [(f"{key}, per household", run[key]) for key in ("pipeline", "latency")
               if key in run]
    phases = [(label, p) for label, p in phases
              if p.get("cpu_us_per_record") or p.get("cpu_us_per_household")]
    if not phases:
        return None
    t = Table(title=f"CPU µs per unit of work, N = {run['households']:,} (rest: the bench "
                    "and everything else on the machine)", title_justify="left")
    t.add_column("phase")
    for part in _PARTS:
        t.add_column(part.replace("_", " "), justify="right")
    t.add_column("machine busy", justify="right")
    t.add_column(f"{cores or '?'} cores at this cost", justify="right")
    loop = run.get("baselines", {}).get("bare_loop", {}).get("per_second")
    for label, p in phases:
        used = p.get("cpu_us_per_record") or p.get("cpu_us_per_household") or {}
        busy = p.get("machine_busy_cores")
        bound = cores_bound(used.get("machine"), cores) if "cpu_us_per_record" in p else None
        t.add_row(label, *["" if used.get(part) is None else f"{used[part]:,.0f}"
                           for part in _PARTS],
                  "" if busy is None else f"{busy:.2f} cores",
                  "" if bound is None else f"{bound:,.0f} msg/s" + (
                      f" ({bound / loop:.2f})" if loop else ""))
    return t


def print_result(result: dict[str, Any], console: Console) -> None:
    for run in result["runs"]:
        console.print(table(run))
        if (cpu := cpu_table(run, result.get("machine", {}).get("cpus"))) is not None:
            console.print(cpu)
        lat = run.get("latency", {})
        if lat.get("saturated"):
            console.print(f"  latency: offered {lat['offered_per_second']:g} hh/s is above the "
                          f"pipeline's {lat['pipeline_capacity_hh_per_s']:g} hh/s, so it is "
                          f"saturated; offered for {lat['offered_seconds']:g}s only")
    if len(result["runs"]) > 1:
        console.print(scaling(result["runs"]))
    for profile in result.get("profiles", {}).values():
        console.print(f"\npy-spy on {profile['service']}: {profile['samples']} samples, "
                      f"busy {profile['busy_pct']}% of {profile['seconds']}s (the rest: waiting on "
                      "Kafka/PostgreSQL). Busy time by step, and self time by package:")
        for key in ("by_step", "self_by_package"):
            for row in profile[key][:12]:
                console.print(f"  {row['pct_of_busy']:5.1f}%  {row['frame']}")
            console.print()
