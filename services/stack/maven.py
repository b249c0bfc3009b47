"""Resolve the pinned Kafka broker classpath (kafka-pom.xml) with Maven into a cache outside git."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

from .common import StackError, cache_dir, file_lock, tail

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).with_name("kafka-pom.xml")
MARKER = ".complete"


def kafka_home() -> Path:
    """The cache folder for this Kafka version (``<cache>/kafka-4.1.1``)."""
    return cache_dir() / f"kafka-{KAFKA_VERSION}"


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def libs_ready(home: Path | None = None) -> bool:
    """True when ``<home>/libs`` was completely resolved from the current pom."""
    marker = (home or kafka_home()) / "libs" / MARKER
    return marker.is_file() and marker.read_text().strip() == _pom_digest()


def ensure_kafka_libs(home: Path | None = None, timeout: float = 900.0) -> Path:
    """Return ``<home>/libs`` with every broker jar, running Maven only when it is not complete."""
    home = home or kafka_home()
    libs = home / "libs"
    if libs_ready(home):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven ('mvn') is not on PATH; it is needed once to fetch the Kafka jars")
    with file_lock(home / ".lock"):
        if libs_ready(home):  # another process resolved it while we waited
            return libs
        staging = home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copyfile(POM, home / "pom.xml")
        out = home / "mvn.log"
        cmd = [
            mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(home / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        log.info("resolving Kafka %s jars with Maven into %s", KAFKA_VERSION, libs)
        try:
            with out.open("w") as sink:
                proc = subprocess.run(
                    cmd, cwd=home, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout
                )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"mvn timed out after {timeout:.0f}s; log: {out}") from exc
        if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            raise StackError(
                f"mvn failed to resolve the Kafka jars (exit {proc.returncode}; log: {out})\n"
                f"{tail(out, 25)}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (libs / MARKER).write_text(_pom_digest() + "\n")
    return libs
