"""Short generated sounds that confirm a gesture before any model runs.

Each earcon is a few soft sine notes with smooth edges, so they never click.
They are distinct in pitch and direction, so a student learns them quickly:
rising for "I'm listening", falling for "got it", and a low "uh-oh" for
"didn't catch that".
"""

from __future__ import annotations

import numpy as np

# (frequency Hz, duration s) per note
EARCONS: dict[str, tuple[tuple[float, float], ...]] = {
    "press": ((660.0, 0.05), (880.0, 0.07)),
    "release": ((880.0, 0.05), (660.0, 0.07)),
    "not_heard": ((392.0, 0.12), (311.0, 0.18)),
    "reset": ((784.0, 0.08), (659.0, 0.08), (523.0, 0.14)),
    # Twice the same note, like a question: "hold again to confirm".
    "confirm": ((659.0, 0.08), (0.0, 0.06), (659.0, 0.08)),
    "activity": ((523.0, 0.07), (659.0, 0.07), (784.0, 0.12)),
    "error": ((220.0, 0.15), (0.0, 0.08), (220.0, 0.15)),
}


def earcon(name: str, rate: int = 22050, level: float = 0.3) -> np.ndarray:
    """The named earcon as float32 mono samples at ``rate``."""
    notes = []
    for frequency, seconds in EARCONS[name]:
        t = np.arange(int(rate * seconds)) / rate
        fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms ramps
        notes.append(level * fade * np.sin(2 * np.pi * frequency * t))
    return np.concatenate(notes).astype(np.float32)
