"""Shut down and restart go through systemd as the parlo user, allowed by one polkit rule."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from appliance.system.power import PowerError, power

RULE = Path(__file__).resolve().parents[1] / "deploy" / "polkit" / "50-parlo-power.rules"


def test_power_asks_systemctl_without_a_password_prompt() -> None:
    asked: list[list[str]] = []

    def run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        asked.append(list(command))
        return subprocess.CompletedProcess(command, 0, "", "")

    power("poweroff", run)
    power("reboot", run)
    assert asked == [
        ["systemctl", "--no-ask-password", "poweroff"],
        ["systemctl", "--no-ask-password", "reboot"],
    ]
    with pytest.raises(ValueError):
        power("halt; rm -rf /", run)
    assert len(asked) == 2


def test_a_refusal_is_an_error_with_systemds_reason() -> None:
    def refuse(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "Access denied\n")

    with pytest.raises(PowerError, match="Access denied"):
        power("poweroff", refuse)

    def missing(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("systemctl")

    with pytest.raises(PowerError, match="systemctl"):
        power("reboot", missing)


def test_the_polkit_rule_allows_the_parlo_user_only_power_off_and_reboot() -> None:
    text = RULE.read_text()
    assert 'subject.user == "parlo"' in text and "polkit.Result.YES" in text
    actions = sorted(set(re.findall(r'"(org\.freedesktop\.[\w.-]+)"', text)))
    assert actions == [
        "org.freedesktop.login1.power-off",
        "org.freedesktop.login1.power-off-multiple-sessions",
        "org.freedesktop.login1.reboot",
        "org.freedesktop.login1.reboot-multiple-sessions",
    ]
    assert text.count("{") == text.count("}") and text.count("(") == text.count(")")
