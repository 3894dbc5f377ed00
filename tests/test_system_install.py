"""deploy/install.sh: valid shell, and every file it installs is in the repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deploy" / "install.sh"


def test_install_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_install_script_passes_shellcheck():
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_everything_it_installs_exists():
    text = SCRIPT.read_text()
    sources = re.findall(r'"\$SOURCE/([^"]+)"', text)
    assert len(sources) >= 6
    for relative in sources:
        if relative.endswith("*.md"):
            assert list((REPO / relative).parent.glob("*.md")), relative
        else:
            assert (REPO / relative).exists(), relative
    assert "systemd/parlo.service" in sources and "deploy/wiring.md" in sources


def test_it_makes_a_pin_only_when_there_is_none_or_when_asked():
    text = SCRIPT.read_text()
    assert 'if os.environ["NEW_PIN"] == "yes" or not has_secret():' in text
    assert "generate_pin()" in text and "set_secret(pin)" in text


def test_the_tools_work_from_a_non_editable_install(tmp_path):
    """An installed box has the package, not the repository: `parlo eval` and `parlo bench`
    must find their data (and the lessons theirs) inside the installed package."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "appliance", source / "appliance",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
         "--target", str(site), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    shutil.rmtree(source)  # nothing may be read from a checkout
    env = {**os.environ, "PYTHONPATH": str(site)}

    def parlo(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "appliance", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    where = subprocess.run(
        [sys.executable, "-c", "import appliance; print(appliance.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(site)), f"not the installed copy: {where}"
    assert "--judged" in parlo("eval", "--help")
    report = json.loads(parlo("eval", "--judged", "--activities", "guess", "--levels", "A1",
                              "--limit", "2", "--json"))  # fmt: skip
    assert report["totals"]["replies"] == 2
    bench = json.loads(parlo("bench", "--runs", "1", "--json"))
    assert bench["runs"] == 1, sorted(bench)


def test_an_image_build_makes_no_pin_and_each_box_makes_its_own_at_first_boot():
    """Issue 14: every box flashed from one image shared the PIN made at build time."""
    text = SCRIPT.read_text()
    pin_step = text[text.index('step "The config page\'s PIN"') : text.index("# --- 6.")]
    guarded, image = pin_step.split("\nelse\n", 1)
    assert 'if [ "$under_systemd" = yes ]; then' in guarded and "set_secret(pin)" in guarded
    assert "set_secret" not in image and 'rm -f "$STATE/web-secret"' in image
    assert "systemd/parlo-first-boot.service" in text
    assert "for unit in parlo-first-boot.service parlo.service" in text
    unit = (REPO / "systemd" / "parlo-first-boot.service").read_text()
    assert "ConditionPathExists=!/var/lib/parlo/web-secret" in unit
    assert "ExecStart=/opt/parlo/venv/bin/parlo passwd --first-boot" in unit
    assert "Before=parlo.service" in unit and "Type=oneshot" in unit


def test_trusted_keys_are_roots_and_read_by_every_unit():
    text = SCRIPT.read_text()
    assert 'install -d -o root -g root -m 0755 "$KEYS_DIR"' in text
    assert 'install -o root -g root -m 0644 "$key"' in text
    assert "KEYS_DIR=/etc/parlo-keys" in text and 'PARLO_KEYS_DIR="\\$PARLO_KEYS_DIR"' in text
    for unit in ("parlo.service", "parlo-usb-import@.service"):
        assert "PARLO_KEYS_DIR=%E/parlo-keys" in (REPO / "systemd" / unit).read_text() or (
            "PARLO_KEYS_DIR=/etc/parlo-keys" in (REPO / "systemd" / unit).read_text()
        )
