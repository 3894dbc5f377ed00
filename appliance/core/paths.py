"""Where Parlo keeps its state.

Everything Parlo writes lives under one state directory, ``PARLO_HOME``:

- ``$PARLO_HOME/config.toml``: the teacher's settings (see :mod:`appliance.core.config`);
- ``$PARLO_HOME/models/``: the model store, with ``current`` and ``previous`` pointers;
- ``$PARLO_HOME/lessons/``: one record per lesson (counts and durations; no words
  unless ``privacy.log_transcripts``), and ``word-lists.json``, the saved target words;
- ``$PARLO_HOME/cache/``: things derived from the models that are slow to make, such
  as the voices cut for streaming (safe to delete: they are made again).

``PARLO_HOME`` is taken from the environment. Under systemd, the unit's
``StateDirectory=`` sets ``$STATE_DIRECTORY`` (``/var/lib/parlo``), which is used
next. Otherwise it is ``$XDG_DATA_HOME/parlo`` (normally ``~/.local/share/parlo``).
``PARLO_CONFIG`` may point the config file elsewhere, such as ``/etc/parlo/config.toml``.
"""

from __future__ import annotations

import os
from pathlib import Path


def parlo_home() -> Path:
    """The state directory, created on first use."""
    if home := os.environ.get("PARLO_HOME"):
        path = Path(home)
    elif state := os.environ.get("STATE_DIRECTORY"):
        path = Path(state.split(":")[0])
    else:
        data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        path = Path(data) / "parlo"
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_path() -> Path:
    """The config file: ``$PARLO_CONFIG``, else ``$PARLO_HOME/config.toml``."""
    if explicit := os.environ.get("PARLO_CONFIG"):
        return Path(explicit)
    return parlo_home() / "config.toml"


def model_store_root() -> Path:
    """The model store, ``$PARLO_HOME/models``."""
    return parlo_home() / "models"


def voice_cache_dir() -> Path:
    """Voices cut in two for streaming (see :mod:`appliance.speech.voice_graph`)."""
    return parlo_home() / "cache" / "voices"


def lessons_dir() -> Path:
    """The lesson records, one file each (see :mod:`appliance.lessons.store`)."""
    return parlo_home() / "lessons"


def word_lists_path() -> Path:
    """The teacher's saved lists of target words."""
    return parlo_home() / "word-lists.json"
