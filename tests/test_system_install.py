"""deploy/install.sh: valid shell, and every file it installs is in the repository."""

from __future__ import annotations

import re
import subprocess
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
