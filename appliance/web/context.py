"""What the page needs from the rest of the box, handed in by whoever runs it.

The daemon fills in every field, so the page can speak, reset the
conversation, list sound devices and report health (``say`` and
``reset_conversation`` stay ``None`` while it has no engine, e.g. no models
yet). ``parlo web`` on its own passes only an event stream, a config path and
``standalone=True``; the page then says those tools need the running box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.core.events import EventStream
from appliance.lessons.recorder import LessonRecorder


@dataclass(frozen=True)
class WebContext:
    """The page's window onto the box.

    ``health()`` returns a flat dict. The keys ``microphone`` and ``speaker``
    (a device name, or ``""``/``None`` when missing) are shown as found or
    missing; any other key is shown as a label and its value.

    ``models_changed()`` is called after the page switched, rolled back or
    imported models, so the daemon can load the new set.

    ``power("poweroff")`` or ``power("reboot")`` is called (on a thread, after the
    page has answered) once the teacher has confirmed Shut down or Restart.
    """

    events: EventStream
    config_path: Path
    say: Callable[[str], object] | None = None
    reset_conversation: Callable[[], None] | None = None
    list_sound_devices: Callable[[], list[str]] | None = None
    health: Callable[[], dict[str, Any]] | None = None
    models_changed: Callable[[], None] | None = None
    # Defaults: $PARLO_HOME/models and $PARLO_HOME/web-secret.
    model_store_root: Path | None = None
    secret_file: Path | None = None
    # Where holds of the button at the box are recorded (default $PARLO_HOME/presence).
    presence_dir: Path | None = None
    # True for `parlo web`: no daemon behind the page at all, and the page says so.
    standalone: bool = False
    # The lessons (the Lessons page): the daemon's recorder; None reads them from the disk.
    lessons: LessonRecorder | None = None
    # Shut down ("poweroff") or restart ("reboot") the box; None: the page cannot.
    power: Callable[[str], None] | None = None
