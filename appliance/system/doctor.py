"""``parlo doctor``: is this box ready for a classroom? One line per part.

::

    Parlo doctor
      ok    config        /etc/parlo/config.toml
      ok    service       parlo is active (running)
      ok    microphone    'USB PnP Sound Device': not tested (in use by the running service)
      ok    speaker       'bcm2835 Headphones'
      ok    GPIO          LGPIOFactory
      ok    button        gpio
      ok    LED           gpio
      FAIL  models        none installed: run `parlo models fetch`, or import a USB pack
      ok    machine       Raspberry Pi 4 Model B, 3.7 GiB RAM, 4 CPUs: tier standard
      ok    disk          24.1 GiB free in /var/lib/parlo

    1 problem found.

Exit status 0 when nothing failed (warnings allowed), 1 otherwise. Sound
devices and GPIO are only opened when the service is not running: the daemon
holds them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from appliance.core.config import Config, ConfigError, load_config
from appliance.core.paths import model_store_root
from appliance.models.store import ModelStore

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "FAIL"

# The model catalog's hardware tiers (models/catalog.toml) decide what a board's RAM is
# good for; this is what is assumed when the catalog cannot be read.
FALLBACK_TIERS = ((700, "tiny-en"),)


@dataclass(frozen=True)
class Finding:
    status: str  # OK, WARN or FAIL
    area: str
    detail: str


class Doctor:
    """Runs every check. Each outside thing it touches can be replaced for tests."""

    def __init__(
        self,
        *,
        config_loader: Callable[[], Config] = load_config,
        sounddevice: Any = None,
        run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
        model_store: Callable[[], ModelStore | None] | None = None,
        catalog: Callable[[], Any] | None = None,
        proc: Path = Path("/proc"),
        state_dir: Callable[[], Path] | None = None,
        test_sound: bool = True,
        beep: bool = False,
        hardware: bool = True,
        rehash: bool = True,
        tiers: Callable[[], tuple[tuple[int, str], ...]] | None = None,
    ) -> None:
        self.config_loader = config_loader
        self.tiers = tiers or _catalog_tiers
        self._sd = sounddevice
        self.run = run
        self.model_store = model_store or _open_model_store
        self.catalog = catalog or _load_catalog
        self.proc = proc
        self.state_dir = state_dir or _state_dir
        self.test_sound = test_sound
        self.beep = beep
        self.hardware = hardware
        self.rehash = rehash
        self.config = Config()
        self.service_active = False

    def findings(self) -> Iterator[Finding]:
        yield from self._guard("config", self.check_config)
        yield from self._guard("service", self.check_service)
        yield from self._guard("sound", self.check_sound)
        if self.hardware:
            yield from self._guard("GPIO", self.check_gpio)
            yield from self._guard("button", self.check_button)
            yield from self._guard("LED", self.check_led)
        yield from self._guard("models", self.check_models)
        yield from self._guard("machine", self.check_machine)
        yield from self._guard("disk", self.check_disk)

    def report(self, out: TextIO = sys.stdout) -> int:
        print("Parlo doctor", file=out)
        problems = 0
        for finding in self.findings():
            problems += finding.status == FAIL
            print(
                f"  {finding.status:<5} {finding.area:<13} {finding.detail}", file=out, flush=True
            )
        print(file=out)
        print(
            f"{problems} problem{'s' * (problems != 1)} found." if problems else "All good.",
            file=out,
        )
        return 1 if problems else 0

    def _guard(self, area: str, check: Callable[[], Iterator[Finding]]) -> Iterator[Finding]:
        try:
            yield from check()
        except Exception as error:  # a check that crashes is itself a finding, never a traceback
            log.debug("check %s crashed", area, exc_info=True)
            yield Finding(FAIL, area, f"check failed: {type(error).__name__}: {error}")

    # --- the checks ---

    def check_config(self) -> Iterator[Finding]:
        from appliance.core.paths import config_path

        path = config_path()
        try:
            self.config = self.config_loader()
        except ConfigError as error:
            yield Finding(FAIL, "config", f"{path}: {error} (checking the rest with defaults)")
            return
        yield Finding(
            OK, "config", str(path) if path.exists() else f"{path} (not written yet: defaults)"
        )

    def check_service(self) -> Iterator[Finding]:
        if shutil.which("systemctl") is None:
            yield Finding(WARN, "service", "systemctl not found: cannot tell whether parlo runs")
            return
        result = self.run(
            ["systemctl", "show", "parlo", "--property=LoadState,ActiveState,SubState"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        load, active, sub = (
            fields.get("LoadState"),
            fields.get("ActiveState"),
            fields.get("SubState"),
        )
        if result.returncode != 0 or not load:
            yield Finding(
                WARN,
                "service",
                f"systemd not reachable: {' '.join(result.stderr.split()) or 'no answer'}",
            )
        elif load == "not-found":
            yield Finding(WARN, "service", "not installed (deploy/install.sh installs it)")
        elif active == "active":
            self.service_active = True
            yield Finding(OK, "service", f"parlo is active ({sub})")
        elif active == "failed":
            yield Finding(FAIL, "service", "parlo has failed: see `journalctl -u parlo -b`")
        else:
            yield Finding(WARN, "service", f"parlo is {active} ({sub})")

    def check_sound(self) -> Iterator[Finding]:
        try:
            sd = self._sd or _import_sounddevice()
        except OSError as error:
            yield Finding(FAIL, "sound", f"PortAudio missing ({error}): apt install libportaudio2")
            return
        devices = list(sd.query_devices())
        wanted = {
            "input": self.config.audio.input_device,
            "output": self.config.audio.output_device,
        }
        defaults = _pair(getattr(sd.default, "device", (-1, -1)))
        for index, (kind, area) in enumerate((("input", "microphone"), ("output", "speaker"))):
            device = _pick_device(devices, kind, wanted[kind], defaults[index])
            if device is None:
                names = ", ".join(repr(d["name"]) for d in devices if d[f"max_{kind}_channels"] > 0)
                what = f"named like {wanted[kind]!r}" if wanted[kind] else "at all"
                yield Finding(FAIL, area, f"no {kind} device {what}; found: {names or 'none'}")
                continue
            name = repr(device["name"])
            if not self.test_sound:
                yield Finding(OK, area, name)
            elif self.service_active:
                yield Finding(OK, area, f"{name}: not tested (in use by the running service)")
            elif kind == "input":
                yield self._test_input(sd, device, area)
            else:
                yield self._test_output(sd, device, area)

    def _test_input(self, sd: Any, device: dict, area: str) -> Finding:
        rate = int(device.get("default_samplerate") or 16000)
        try:
            audio = sd.rec(
                rate // 2,
                samplerate=rate,
                channels=1,
                dtype="float32",
                device=device["index"],
                blocking=True,
            )
        except Exception as error:
            return Finding(FAIL, area, f"{device['name']!r} does not record: {error}")
        peak = float(abs(audio).max()) if len(audio) else 0.0
        if peak == 0.0:
            return Finding(
                WARN, area, f"{device['name']!r} records only silence: muted, or the wrong device?"
            )
        return Finding(
            OK, area, f"{device['name']!r}: recorded 0.5 s, peak {20 * math.log10(peak):.0f} dBFS"
        )

    def _test_output(self, sd: Any, device: dict, area: str) -> Finding:
        import numpy as np

        rate = int(device.get("default_samplerate") or 48000)
        t = np.arange(rate // 4) / rate
        sound = (0.2 * np.sin(2 * np.pi * 660 * t) if self.beep else np.zeros_like(t)).astype(
            "float32"
        )
        try:
            sd.play(sound, samplerate=rate, device=device["index"], blocking=True)
        except Exception as error:
            return Finding(FAIL, area, f"{device['name']!r} does not play: {error}")
        return Finding(
            OK, area, f"{device['name']!r}: played 0.25 s{' (a beep)' if self.beep else ''}"
        )

    def check_gpio(self) -> Iterator[Finding]:
        button, led = self.config.button.backend, self.config.led.backend
        if button not in ("auto", "gpio") and led not in ("auto", "gpio", "rgb"):
            return
        from gpiozero import Device

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                Device.ensure_pin_factory()
            except Exception as error:
                needed = button == "gpio" or led in ("gpio", "rgb")
                hint = "install lgpio" if needed else "fine on a laptop with a USB button"
                yield Finding(FAIL if needed else WARN, "GPIO", f"none ({error}): {hint}")
                return
        yield Finding(OK, "GPIO", type(Device.pin_factory).__name__)

    def check_button(self) -> Iterator[Finding]:
        from appliance.hardware.buttons import make_button

        if self.service_active:
            yield Finding(
                OK, "button", f"{self.config.button.backend}: not tested (in use by the service)"
            )
            return
        button, backend = make_button(self.config.button)
        if button is None:
            yield Finding(WARN, "button", "none found: the box can only be used from its web page")
            return
        with contextlib.suppress(Exception):
            button.close()
        yield Finding(OK, "button", f"{backend} ({self.config.button.mode} to talk)")

    def check_led(self) -> Iterator[Finding]:
        from appliance.hardware.leds import make_led

        if self.config.led.backend == "none":
            return
        if self.service_active:
            yield Finding(
                OK, "LED", f"{self.config.led.backend}: not tested (in use by the service)"
            )
            return
        led, backend = make_led(self.config.led)
        with contextlib.suppress(Exception):
            led.close()
        if backend == "none":
            yield Finding(WARN, "LED", "none found: state shows only on the web page")
        else:
            yield Finding(OK, "LED", backend)

    def check_models(self) -> Iterator[Finding]:
        store = self.model_store()
        if store is None:
            yield Finding(FAIL, "models", "the model store code is missing from this install")
            return
        current = store.current()
        if current is None:
            yield Finding(
                FAIL, "models", "none installed: run `parlo models fetch`, or import a USB pack"
            )
            return
        problems = current.problems(rehash=self.rehash)
        if problems:
            yield Finding(FAIL, "models", f"{current.name}: {'; '.join(problems)}")
            return
        checked = "verified" if self.rehash else "all files there (checksums not read)"
        suits = self._suited_set()
        catalog = self.catalog()
        if (
            suits
            and catalog is not None
            and current.name in catalog.packs
            and suits != current.name
        ):
            # A catalog set other than the one for this board and class: say which would do.
            yield Finding(
                WARN,
                "models",
                f"{current.name}: {checked}; this board and a class in "
                f"{self.config.language!r} suit {suits}: run `parlo models fetch {suits}`",
            )
        else:
            yield Finding(OK, "models", f"{current.name}: {checked}")

    def check_machine(self) -> Iterator[Finding]:
        memory = _mem_total_gib(self.proc / "meminfo")
        ram_mb = memory * 1024
        cpus = os.cpu_count() or 1
        machine = f"{_machine_name(self.proc)}, {memory:.1f} GiB RAM, {cpus} CPUs"
        tiers = sorted(self.tiers())
        fitting = [name for min_mb, name in tiers if min_mb <= ram_mb]
        if not fitting:
            smallest_mb, smallest = tiers[0]
            yield Finding(
                FAIL,
                "machine",
                f"{machine}: too small, even {smallest} needs {smallest_mb} MB of RAM",
            )
            return
        detail = f"{machine}: tier {fitting[-1]}"
        if suits := self._suited_set():  # among the sets the catalog holds, for the language
            detail += f", model set {suits}"
        yield Finding(OK, "machine", detail)

    def _suited_set(self) -> str:
        """The catalog's set for this board's RAM and the class's language ("" if none)."""
        from appliance.models.catalog import CatalogError

        catalog = self.catalog()
        if catalog is None:
            return ""
        ram = int(_mem_total_gib(self.proc / "meminfo") * 2**30)
        try:
            return str(catalog.pick_tier(ram, self.config.language).pack)
        except CatalogError:
            return ""  # no catalog set hears the language: the models check says what is wrong

    def check_disk(self) -> Iterator[Finding]:
        path = self.state_dir()
        free = shutil.disk_usage(path).free / 2**30
        status = WARN if free < 1.0 else OK
        yield Finding(status, "disk", f"{free:.1f} GiB free in {path}")


def _pick_device(devices: list[dict], kind: str, wanted: str, default: int) -> dict | None:
    usable = [d for d in devices if d.get(f"max_{kind}_channels", 0) > 0]
    if wanted:
        return next((d for d in usable if wanted.lower() in d["name"].lower()), None)
    return next((d for d in usable if d.get("index") == default), usable[0] if usable else None)


def _pair(value: Any) -> tuple[int, int]:
    try:
        first, second = value
        return int(first if first is not None else -1), int(second if second is not None else -1)
    except (TypeError, ValueError):
        return -1, -1


def _catalog_tiers() -> tuple[tuple[int, str], ...]:
    """(min_ram_mb, pack) for each tier of the model catalog, planned sets included."""
    try:
        from appliance.models.catalog import CatalogError, load_catalog

        catalog = load_catalog()
    except (ImportError, CatalogError, OSError) as error:
        log.warning("doctor: cannot read the model catalog (%s); assuming its tiers", error)
        return FALLBACK_TIERS
    return tuple((tier.min_ram_mb, tier.pack) for tier in catalog.tiers) or FALLBACK_TIERS


def _mem_total_gib(meminfo: Path) -> float:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _machine_name(proc: Path) -> str:
    model = proc / "device-tree" / "model"  # on a Pi: "Raspberry Pi 4 Model B Rev 1.4"
    with contextlib.suppress(OSError):
        return model.read_text().strip("\0\n ")
    with contextlib.suppress(OSError):
        for line in (proc / "cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    return "unknown machine"


def _import_sounddevice() -> Any:
    import sounddevice

    return sounddevice


def _open_model_store() -> ModelStore:
    return ModelStore(model_store_root())


def _load_catalog() -> Any:
    """The model catalog, or None where this install has none (a box with packs only)."""
    from appliance.models.catalog import CatalogError, load_catalog

    try:
        return load_catalog()
    except CatalogError:
        return None


def _state_dir() -> Path:
    from appliance.core.paths import parlo_home

    return parlo_home()
