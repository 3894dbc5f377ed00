"""systemd/parlo.service: systemd itself accepts it, and it says what the appliance needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "parlo.service"
EXEC_START = "ExecStart=/opt/parlo/venv/bin/parlo daemon"

needs_systemd_analyze = pytest.mark.usefixtures("systemd_analyze_is_installed")


@pytest.fixture
def systemd_analyze_is_installed() -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: apt-get install systemd"


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def verify(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``systemd-analyze verify`` on ``text`` as parlo.service.

    verify rejects an ExecStart= binary that does not exist, and the venv exists only on an
    installed box, so the copy runs a stand-in executable instead. verify does not look up
    User=, so the parlo user need not exist. It returns 0 even for some mistakes it only
    warns about, so any output at all counts as a failure.
    """
    stand_in = tmp_path / "parlo"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    assert text.count(EXEC_START) == 1
    unit = tmp_path / "parlo.service"
    unit.write_text(text.replace(EXEC_START, f"ExecStart={stand_in} daemon"))
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_systemd_analyze
def test_systemd_analyze_verify_passes(tmp_path):
    result = verify(UNIT.read_text(), tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_systemd_analyze
def test_verify_would_notice_a_mistake(tmp_path):
    """So the test above cannot pass merely because verify checks nothing."""
    result = verify(UNIT.read_text().replace("Type=notify", "Type=notifyy"), tmp_path)
    assert "notifyy" in result.stdout + result.stderr


def test_unit_runs_the_daemon_as_systemd_expects():
    unit = directives(UNIT.read_text())
    assert EXEC_START.split("=", 1)[1] in unit["ExecStart"]
    assert unit["Type"] == ["notify"]
    assert unit["Restart"] == ["on-failure"]
    assert float(unit["WatchdogSec"][0]) >= 10
    assert unit["User"] == ["parlo"]
    assert unit["StateDirectory"] == ["parlo"] and unit["ConfigurationDirectory"] == ["parlo"]
    environment = unit["Environment"]
    assert "PARLO_HOME=%S/parlo" in environment
    assert "PARLO_CONFIG=%E/parlo/config.toml" in environment
    assert "%E/parlo" in unit["ReadWritePaths"]  # the config page saves the config
    assert unit["WantedBy"] == ["multi-user.target"]


def test_unit_is_hardened_but_reaches_sound_gpio_and_input():
    unit = directives(UNIT.read_text())
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "DevicePolicy": "closed",
    }.items():
        assert unit[key] == [value], key
    allowed = " ".join(unit["DeviceAllow"])
    for device in ("char-alsa", "char-input", "char-gpiochip"):
        assert device in allowed
    assert "PrivateDevices" not in unit  # it would hide /dev/snd
    assert "ProtectKernelTunables" not in unit  # it would make keyboard LEDs read-only
