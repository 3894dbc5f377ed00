"""The voice streamed in chunks, on the real installed piper voice."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from appliance.speech import voice_graph
from appliance.speech.tts import FIRST_CHUNK_FRAMES, PiperTts, chunk_bounds
from appliance.speech.voice_graph import find_latent, split_voice

LONG = (
    "My friend and I walked to the old market by the river on a sunny morning, "
    "and we bought fresh bread, green apples and two cups of hot tea."
)
QUIET = {"noise_scale": 0.0, "noise_w": 0.0}  # VITS samples noise; without it, output is fixed


@pytest.fixture(scope="module")
def voice_path(model_set) -> Path:
    return model_set.file("tts")


@pytest.fixture(scope="module")
def chunked(voice_path) -> PiperTts:
    return PiperTts(voice_path)


@pytest.fixture(scope="module")
def whole(voice_path) -> PiperTts:
    """The same voice loaded as if its graph could not be cut: one decode per sentence."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(voice_graph, "cached_split", lambda path, cache: None)
        return PiperTts(voice_path)


def joined(voice: PiperTts, text: str) -> np.ndarray:
    return np.concatenate(list(voice.stream(text, **QUIET)))


def test_the_real_voice_is_cut_and_the_fallback_is_whole(chunked, whole):
    assert chunked.streams
    assert not whole.streams


def test_chunked_audio_equals_a_whole_decode(chunked, whole):
    assert chunked.gain == pytest.approx(whole.gain, rel=1e-4)
    for text in (LONG, "Hello. How are you?"):
        pieces, reference = joined(chunked, text), joined(whole, text)
        assert pieces.shape == reference.shape
        np.testing.assert_allclose(pieces, reference, atol=1e-4)


def test_a_long_sentence_comes_in_several_chunks_the_first_short(chunked):
    pieces = list(chunked.stream(LONG))
    total = sum(len(piece) for piece in pieces)
    assert len(pieces) >= 4
    assert len(pieces[0]) <= 1.5 * FIRST_CHUNK_FRAMES * 256  # hop_length of a medium voice
    assert len(pieces[0]) < total / 5
    assert all(piece.dtype == np.float32 and piece.ndim == 1 for piece in pieces)


def test_the_fallback_gives_one_piece_per_sentence(whole):
    assert len(list(whole.stream("Hello. How are you today? Fine, thanks."))) == 3


@pytest.mark.parametrize("text", ["", "...", " , ", "—"])
def test_nothing_to_say_gives_no_audio(chunked, whole, text):
    assert list(chunked.stream(text)) == []
    assert list(whole.stream(text)) == []
    audio = chunked.synthesize(text)
    assert audio.dtype == np.float32 and audio.size == 0


def test_synthesize_is_the_stream_joined(chunked):
    audio = chunked.synthesize("Good morning, everyone.")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 * chunked.sample_rate < audio.size < 3 * chunked.sample_rate
    assert np.abs(audio).max() <= 1.0


def test_loudness_stays_close_to_pipers_own(whole):
    """Piper scales each sentence to a peak of 1.0; the fixed gain must land near that."""
    from piper import SynthesisConfig

    settings = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    for text in ("What do you like to eat for breakfast?", LONG):
        pipers = np.concatenate(
            [c.audio_float_array for c in whole.voice.synthesize(text, settings)]
        )
        ours = joined(whole, text)
        decibels = 20 * np.log10(np.sqrt(np.mean(ours**2)) / np.sqrt(np.mean(pipers**2)))
        assert -3.0 < decibels < 1.0, decibels


def test_rate_changes_the_length(chunked):
    normal = joined(chunked, "Let us read the story together.").size
    chunked.rate = 1.5
    try:
        faster = joined(chunked, "Let us read the story together.").size
    finally:
        chunked.rate = 1.0
    assert faster < 0.8 * normal


def test_two_threads_can_stream_at_once(chunked):
    expected = joined(chunked, LONG)
    results: list[np.ndarray] = []

    def speak() -> None:
        results.append(joined(chunked, LONG))

    threads = [threading.Thread(target=speak) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_chunk_bounds_cover_the_frames_without_a_short_tail():
    for frames in (1, 7, 16, 23, 24, 25, 100, 517):
        bounds = chunk_bounds(frames)
        assert bounds[0][0] == 0 and bounds[-1][1] == frames
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
        assert bounds[0][1] - bounds[0][0] <= 1.5 * FIRST_CHUNK_FRAMES
        if len(bounds) > 1:
            assert bounds[-1][1] - bounds[-1][0] >= FIRST_CHUNK_FRAMES // 2


# Tiny graphs for the cut finder.


def tiny_model(nodes: list[onnx.NodeProto], inputs: list[str]) -> onnx.ModelProto:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 4, 3], np.ones(12).tolist())
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4, None]) for name in inputs],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, None)],
        initializer=[weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


def test_a_graph_without_a_decoder_is_not_cut():
    model = tiny_model([helper.make_node("Relu", ["x"], ["audio"])], ["x"])
    assert find_latent(model.graph) is None
    assert split_voice(model) is None


def test_a_convolution_that_needs_other_inputs_is_no_cut():
    model = tiny_model(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1]),
            helper.make_node("Add", ["c", "mask"], ["audio"]),
        ],
        ["x", "mask"],
    )
    assert split_voice(model) is None


def test_a_decoder_without_piper_names_is_found_by_structure():
    import onnxruntime

    model = tiny_model(
        [
            helper.make_node("Relu", ["x"], ["z"]),
            helper.make_node("Conv", ["z", "w"], ["audio"], pads=[1, 1]),
        ],
        ["x"],
    )
    split = split_voice(model)
    assert split is not None and split.latent == "z" and split.decoder_inputs == ()
    x = np.linspace(-1, 1, 4 * 10, dtype=np.float32).reshape(1, 4, 10)
    encoder = onnxruntime.InferenceSession(split.encoder, providers=["CPUExecutionProvider"])
    decoder = onnxruntime.InferenceSession(split.decoder, providers=["CPUExecutionProvider"])
    whole = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (latent,) = encoder.run(None, {"x": x})
    np.testing.assert_allclose(decoder.run(None, {"z": latent})[0], whole.run(None, {"x": x})[0])


def test_a_voice_whose_cut_fails_at_load_runs_whole(voice_path, monkeypatch):
    def failing(path: Path, cache: Path) -> None:
        raise RuntimeError("the helper died")

    monkeypatch.setattr(voice_graph, "cached_split", failing)
    voice = PiperTts(voice_path)
    assert not voice.streams
    assert voice.synthesize("Hello.").size > 0


def test_a_voice_is_cut_once_then_loaded_from_the_cache(voice_path, tmp_path, monkeypatch):
    first = voice_graph.cached_split(voice_path, tmp_path)
    assert first is not None and Path(first.encoder).is_file() and Path(first.decoder).is_file()

    def must_not_cut(path: Path, folder: Path) -> None:
        raise AssertionError("the cached cut must be used")

    monkeypatch.setattr(voice_graph, "split_voice_file", must_not_cut)
    again = voice_graph.cached_split(voice_path, tmp_path)
    assert again == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no scratch left"


def test_the_cache_keeps_a_few_voices_and_forgets_older_ones(voice_path, tmp_path, monkeypatch):
    def fake_cut(path: Path, folder: Path) -> None:
        (folder / voice_graph.CUT_FILE).write_text('{"latent": null}')  # a voice with no cut

    monkeypatch.setattr(voice_graph, "split_voice_file", fake_cut)
    for number in range(voice_graph.CACHED_VOICES + 2):
        voice = tmp_path / "voices" / f"voice{number}.onnx"
        voice.parent.mkdir(exist_ok=True)
        voice.write_bytes(b"x" * number)
        assert voice_graph.cached_split(voice, tmp_path / "cache") is None
    assert len(list((tmp_path / "cache").iterdir())) == voice_graph.CACHED_VOICES


def test_an_unwritable_cache_is_a_clear_error(voice_path, tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(RuntimeError, match="cannot keep the cut voice"):
        voice_graph.cached_split(voice_path, blocker)
