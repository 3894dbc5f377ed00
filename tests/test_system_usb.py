"""A USB stick: only FAT and exFAT are mounted, never without the parlo user, and the rest
runs as parlo in a sandbox that systemd-analyze scores as safe."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deploy" / "usb-import.sh"
UNIT = REPO / "systemd" / "parlo-usb-import@.service"
RULE = REPO / "deploy" / "udev" / "90-parlo-usb.rules"


def stubs(tmp_path: Path, *, user_exists: bool = True, fstype: str = "vfat") -> Path:
    """Stand-ins for the root-only tools, each logging how it was called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    scripts = {
        "id": f'echo "id $*" >> {log}\n' + ("echo 1234\n" if user_exists else "exit 1\n"),
        "blkid": f'echo "blkid $*" >> {log}\necho {fstype}\n',
        "mount": f'echo "mount $*" >> {log}\n',
        "umount": f'echo "umount $*" >> {log}\n',
        "systemctl": f'echo "systemctl $*" >> {log}\n',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    return bin_dir


def run(tmp_path: Path, bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PARLO_USB_ROOT": str(tmp_path / "run"),
        "PARLO_HOME": str(tmp_path / "home"),
    }
    return subprocess.run(
        ["sh", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=30
    )


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_the_script_passes_shellcheck():
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("fstype", ["ntfs", "ext4", "btrfs", "hfsplus", ""])
def test_only_fat_and_exfat_are_mounted(tmp_path, fstype):
    done = run(tmp_path, stubs(tmp_path, fstype=fstype), "mount", "/dev/sdb1")
    assert done.returncode == 1
    assert "Parlo only reads vfat and exfat sticks" in done.stderr
    assert not any(call.startswith("mount") for call in calls(tmp_path))


@pytest.mark.parametrize("fstype", ["vfat", "exfat"])
def test_a_fat_stick_is_mounted_read_only_noexec_and_owned_by_parlo(tmp_path, fstype):
    done = run(tmp_path, stubs(tmp_path, fstype=fstype), "mount", "/dev/sdb1")
    assert done.returncode == 0, done.stderr
    (mount,) = [call for call in calls(tmp_path) if call.startswith("mount")]
    assert mount.startswith(f"mount -t {fstype} -o ro,nosuid,nodev,noexec,uid=1234,gid=1234")
    assert mount.endswith(f"/dev/sdb1 {tmp_path}/run/sdb1")


def test_without_the_parlo_user_nothing_is_mounted_and_nothing_runs_as_root(tmp_path):
    done = run(tmp_path, stubs(tmp_path, user_exists=False), "mount", "/dev/sdb1")
    assert done.returncode == 1
    assert "the user parlo is missing: refusing to act on /dev/sdb1 as root" in done.stderr
    assert [call.split()[0] for call in calls(tmp_path)] == ["id"]


def test_bad_arguments_are_refused(tmp_path):
    bin_dir = stubs(tmp_path)
    for args in (("mount", "sdb1"), ("format", "/dev/sdb1"), ()):
        done = run(tmp_path, bin_dir, *args)
        assert done.returncode == 2 and "usage:" in done.stderr
    assert calls(tmp_path) == []


def test_unmount_restarts_the_daemon_only_when_the_models_changed(tmp_path):
    bin_dir = stubs(tmp_path)
    store = tmp_path / "home" / "models"
    store.mkdir(parents=True)
    (store / "current").symlink_to("sets/a")
    assert run(tmp_path, bin_dir, "mount", "/dev/sdb1").returncode == 0
    assert run(tmp_path, bin_dir, "unmount", "/dev/sdb1").returncode == 0
    assert not any("systemctl" in call for call in calls(tmp_path))
    assert run(tmp_path, bin_dir, "mount", "/dev/sdb1").returncode == 0
    (store / "current").unlink()
    (store / "current").symlink_to("sets/b")
    assert run(tmp_path, bin_dir, "unmount", "/dev/sdb1").returncode == 0
    assert "systemctl try-reload-or-restart parlo.service" in calls(tmp_path)


def test_udev_starts_the_import_only_for_fat_and_exfat():
    assert 'ENV{ID_FS_TYPE}=="vfat|exfat"' in RULE.read_text()


def test_the_stick_is_read_as_parlo_never_as_root(monkeypatch, tmp_path, capsys):
    from appliance.cli import main

    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setenv("PARLO_HOME", str(tmp_path))
    assert main(["models", "usb", str(tmp_path)]) == 2
    assert "refusing to read a USB stick as root" in capsys.readouterr().err


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_the_import_unit_is_sandboxed():
    unit = directives(UNIT.read_text())
    assert unit["User"] == ["parlo"]
    assert unit["ProtectSystem"] == ["strict"] and unit["PrivateNetwork"] == ["yes"]
    assert unit["CapabilityBoundingSet"] == [""] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["MemoryMax"] and unit["SystemCallFilter"][0] == "@system-service"
    writable = unit["ReadWritePaths"][0].split()
    assert writable == ["/var/lib/parlo/models", "/var/lib/parlo/presence", "-/run/parlo-usb/%I"]
    # Only the mount and unmount run as root ("+"), and they run nothing from the stick.
    assert unit["ExecStartPre"] == ["+/usr/lib/parlo/usb-import.sh mount /dev/%I"]
    assert unit["ExecStopPost"] == ["+/usr/lib/parlo/usb-import.sh unmount /dev/%I"]
    assert unit["ExecStart"] == ["/opt/parlo/venv/bin/parlo models usb /run/parlo-usb/%I"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_analyze_scores_the_import_unit_safe(tmp_path):
    """Issue 14: it scored 9.0 (UNSAFE); the target is 3.0 or less."""
    scores = {}
    for unit in ("parlo-usb-import@.service", "parlo-first-boot.service"):
        done = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", str(REPO / "systemd" / unit)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
        assert match, done.stdout + done.stderr
        scores[unit] = float(match.group(1))
    print(scores)
    assert all(score <= 3.0 for score in scores.values()), scores


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    stand_in = tmp_path / "stand-in"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    for name, instance in (
        ("parlo-usb-import@.service", "parlo-usb-import@sdb1.service"),
        ("parlo-first-boot.service", "parlo-first-boot.service"),
    ):
        text = (REPO / "systemd" / name).read_text()
        text = text.replace("/opt/parlo/venv/bin/parlo", str(stand_in))
        text = text.replace("/usr/lib/parlo/usb-import.sh", str(stand_in))
        (tmp_path / name).write_text(text)
        if instance != name:
            (tmp_path / instance).symlink_to(tmp_path / name)
        done = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", str(tmp_path / instance)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), name


def test_jinja2_is_pinned_past_the_sandbox_escape():
    """A GGUF's chat template is Jinja, rendered in jinja2's sandbox: 3.1.6 closed an escape."""
    import tomllib
    from importlib.metadata import version

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "jinja2>=3.1.6" in project["dependencies"]
    assert tuple(int(part) for part in version("jinja2").split(".")[:3]) >= (3, 1, 6)
