"""The bench's results as a picture: where the time to first audio goes.

Two stacked bars, one run: the streamed loop (what the daemon does) and the
sequential baseline (each stage waits for the whole of the one before). Needs
matplotlib (``pip install 'parlo[bench]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STREAMED = (
    ("stt", "speech to text (after release)"),
    ("llm_first_sentence", "reply: first sentence (planner, or LLM)"),
    ("tts_first_chunk", "voice: first piece"),
)
SEQUENTIAL = (
    ("vad", "VAD (after release)"),
    ("stt", "speech to text (30 s window)"),
    ("llm", "reply: whole (planner, or LLM)"),
    ("tts", "voice: whole reply"),
)
COLOURS = {"vad": "#9aa5b1", "stt": "#4c78a8", "llm": "#f58518", "llm_first_sentence": "#f58518",
           "tts": "#54a24b", "tts_first_chunk": "#54a24b", "overhead": "#d3d3d3"}  # fmt: skip


def draw_chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 3.8), dpi=120)
    streamed = result["stages_ms"]
    rows = [
        ("streamed (Parlo)", [(k, label, streamed[k]) for k, label in STREAMED]
         + [("overhead", "overhead", result["overhead_ms"]["p50"])]),
        ("sequential baseline", [(k, label, result["sequential_stages_ms"][k])
                                 for k, label in SEQUENTIAL]),
    ]  # fmt: skip
    seen = set()
    for y, (_, parts) in enumerate(rows):
        left = 0.0
        for key, label, width in parts:
            width = max(0.0, width)
            axes.barh(y, width, left=left, color=COLOURS[key], edgecolor="white",
                      label=None if label in seen else label)  # fmt: skip
            seen.add(label)
            left += width
        axes.text(left + 20, y, f"{left:.0f} ms", va="center", fontsize=9)
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    axes.invert_yaxis()
    axes.set_xlabel("release → first audio, median (ms)")
    first = result["release_to_first_audio_ms"]
    axes.set_title(
        f"Parlo on {result['cores']} cores: first audio p50 {first['p50']:.0f} ms, "
        f"p95 {first['p95']:.0f} ms "
        f"({result['speedup_vs_sequential']:.1f}× faster than sequential)",
        fontsize=10,
    )
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=4, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
