"""The box's vital signs, read straight from Linux where possible.

Each reading is optional: a laptop has no Pi thermal zone, a container may hide
``/proc/meminfo``. A missing reading is left out, never an error.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
MEMINFO = Path("/proc/meminfo")
PROC_UPTIME = Path("/proc/uptime")
HOT_CELSIUS = 75.0  # a Pi starts slowing itself down near 80 °C


@dataclass(frozen=True)
class Reading:
    """One line of the health list: a label, a value for people, and whether it is a worry."""

    label: str
    value: str
    ok: bool = True


@dataclass
class HealthReport:
    readings: list[Reading] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(reading.ok for reading in self.readings)


def gather(
    disk_path: Path, started_at: float, daemon_health: Callable[[], dict[str, Any]] | None
) -> HealthReport:
    """Everything the status page shows under "Health"."""
    report = HealthReport()
    if daemon_health is not None:
        report.readings += _daemon_readings(daemon_health)
    if (celsius := cpu_temperature()) is not None:
        report.readings.append(Reading("Temperature", f"{celsius:.0f} °C", celsius < HOT_CELSIUS))
    try:
        usage = shutil.disk_usage(disk_path)
    except OSError:
        usage = None
    if usage is not None:
        report.readings.append(
            Reading(
                "Free disk",
                f"{_size(usage.free)} of {_size(usage.total)}",
                usage.free > 500 * 2**20,
            )
        )
    if (memory := available_memory()) is not None:
        report.readings.append(Reading("Free memory", _size(memory), memory > 100 * 2**20))
    if (box := box_uptime()) is not None:
        report.readings.append(Reading("Box on for", duration(box)))
    report.readings.append(Reading("Page running for", duration(time.time() - started_at)))
    return report


def _daemon_readings(daemon_health: Callable[[], dict[str, Any]]) -> list[Reading]:
    try:
        data = daemon_health()
    except Exception as error:
        log.exception("the daemon's health check failed")
        return [Reading("Health check", f"failed: {error}", ok=False)]
    readings = []
    for key in ("microphone", "speaker"):
        if key in data:
            device = data[key]
            readings.append(
                Reading(key.capitalize(), str(device) if device else "not found", bool(device))
            )
    for key, value in data.items():
        if key not in ("microphone", "speaker"):
            readings.append(Reading(key.replace("_", " ").capitalize(), str(value)))
    return readings


def cpu_temperature() -> float | None:
    try:
        return int(THERMAL_ZONE.read_text().strip()) / 1000
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def box_uptime() -> float | None:
    try:
        return float(PROC_UPTIME.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def duration(seconds: float) -> str:
    """``3 d 4 h``, ``2 h 5 min``, ``12 min``: as precise as a teacher needs."""
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit in ("B", "KB") else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
