"""Tests for the CTranslate2 -> whisper.cpp converter, using tiny synthetic models only."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from appliance.speech.whisper_ggml import (
    Ct2Model,
    bpe_token_bytes,
    convert_ct2_whisper,
    quantize_q8_0,
    read_ggml_header,
    slaney_mel_filters,
    validate_ggml,
)

STATE, MELS, AUDIO_CTX, TEXT_CTX = 32, 80, 6, 5
REGULAR_TOKENS = ["!", "Ġhello", "Ċ"]
VOCAB = [*REGULAR_TOKENS, "<|endoftext|>", "<|startoftranscript|>", "<|en|>"]
VOCAB_OFFSET = 48 + 8 + MELS * 201 * 4  # header, mel filter dims and weights
TENSORS_OFFSET = VOCAB_OFFSET + 4 + 5 + 10 + 5


def _ct2_string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ct2_model(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    """Serialize ``variables`` the way CTranslate2 (binary version 6) writes model.bin."""
    dtype_ids = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2}
    dtype_ids[np.dtype("float16")] = 4
    out = struct.pack("<I", 6) + _ct2_string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, value in sorted(variables.items()):
        out += _ct2_string(name) + struct.pack(f"<B{value.ndim}I", value.ndim, *value.shape)
        out += struct.pack("<BI", dtype_ids[value.dtype], value.nbytes) + value.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _ct2_string(alias) + _ct2_string(target)
    path.write_bytes(out)


def tiny_whisper_variables(seed: int = 0) -> dict[str, np.ndarray]:
    """A one-layer Whisper in CTranslate2's WhisperSpec layout, with random float16 weights."""
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float16)

    def linear(prefix: str, rows: int, cols: int = STATE) -> dict[str, np.ndarray]:
        return {f"{prefix}/weight": weights(rows, cols), f"{prefix}/bias": weights(rows)}

    def norm(prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}/gamma": weights(STATE), f"{prefix}/beta": weights(STATE)}

    def zero_key_bias(fused: dict[str, np.ndarray], key_rows: slice) -> dict[str, np.ndarray]:
        fused[next(k for k in fused if k.endswith("/bias"))][key_rows] = 0
        return fused

    variables: dict[str, np.ndarray] = {
        "encoder/conv1/weight": weights(STATE, MELS, 3),
        "encoder/conv1/bias": weights(STATE),
        "encoder/conv2/weight": weights(STATE, STATE, 3),
        "encoder/conv2/bias": weights(STATE),
        "encoder/position_encodings/encodings": weights(AUDIO_CTX, STATE),
        "decoder/embeddings/weight": weights(len(VOCAB), STATE),
        "decoder/position_encodings/encodings": weights(TEXT_CTX, STATE),
        "encoder/num_heads": np.array(2, np.int16),
        "decoder/num_heads": np.array(2, np.int16),
        "decoder/activation": np.array(3, np.int8),
        **norm("encoder/layer_norm"),
        **norm("decoder/layer_norm"),
    }
    for system in ("encoder", "decoder"):
        layer = f"{system}/layer_0"
        variables |= norm(f"{layer}/self_attention/layer_norm")
        qkv = linear(f"{layer}/self_attention/linear_0", 3 * STATE)
        variables |= zero_key_bias(qkv, slice(STATE, 2 * STATE))
        variables |= linear(f"{layer}/self_attention/linear_1", STATE)
        variables |= norm(f"{layer}/ffn/layer_norm")
        variables |= linear(f"{layer}/ffn/linear_0", 4 * STATE)
        variables |= linear(f"{layer}/ffn/linear_1", STATE, 4 * STATE)
    variables |= norm("decoder/layer_0/attention/layer_norm")
    variables |= linear("decoder/layer_0/attention/linear_0", STATE)
    kv = linear("decoder/layer_0/attention/linear_1", 2 * STATE)
    variables |= zero_key_bias(kv, slice(0, STATE))
    variables |= linear("decoder/layer_0/attention/linear_2", STATE)
    return variables


def write_tiny_ct2_dir(directory: Path, variables: dict[str, np.ndarray] | None = None) -> Path:
    directory.mkdir(exist_ok=True)
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}
    write_ct2_model(directory / "model.bin", variables or tiny_whisper_variables(), aliases)
    (directory / "vocabulary.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return directory


def read_ggml_tensors(path: Path) -> dict[str, tuple[int, tuple[int, ...], bytes]]:
    """Map each tensor name to (ggml type, ne dims, raw data) — a test-only reader."""
    sizes = {0: (1, 4), 1: (1, 2), 8: (32, 34)}
    tensors = {}
    with open(path, "rb") as file:
        read_ggml_header(file, path.stat().st_size)
        while header := file.read(12):
            n_dims, name_length, ggml_type = struct.unpack("<3i", header)
            dims = struct.unpack(f"<{n_dims}i", file.read(4 * n_dims))
            name = file.read(name_length).decode()
            block_values, block_bytes = sizes[ggml_type]
            data = file.read(int(np.prod(dims)) // block_values * block_bytes)
            tensors[name] = (ggml_type, dims, data)
    return tensors


def dequantize_q8_0(data: bytes, rows: int) -> np.ndarray:
    blocks = np.frombuffer(data, dtype=[("scale", "<f2"), ("values", "i1", (32,))])
    values = blocks["scale"].astype(np.float32)[:, None] * blocks["values"]
    return values.reshape(rows, -1)


@pytest.fixture()
def converted(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    variables = tiny_whisper_variables()
    out = tmp_path / "tiny.bin"
    convert_ct2_whisper(write_tiny_ct2_dir(tmp_path / "ct2", variables), out)
    return out, variables


def test_q8_0_rounds_half_away_from_zero_like_c_roundf() -> None:
    # amax 127 makes the scale exactly 1, so each value is rounded on its own.
    row = np.zeros((1, 32), np.float32)
    row[0, :9] = [127, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997, -126.5, 3.2]
    block = quantize_q8_0(row)[0, 0]
    assert block["scale"] == np.float16(1.0)
    assert block["values"][:9].tolist() == [127, 1, -1, 2, 3, -3, 0, -127, 3]


def test_q8_0_block_layout_is_fp16_scale_then_32_int8_per_row_block() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((2, 64)).astype(np.float32)
    matrix[0, 32:] *= 10  # make each block's scale distinct
    matrix[1, :32] = 0
    raw = quantize_q8_0(matrix).tobytes()
    assert len(raw) == 4 * 34
    for index, block in enumerate(matrix.reshape(4, 32)):
        scale = np.frombuffer(raw[34 * index : 34 * index + 2], "<f2")[0]
        values = np.frombuffer(raw[34 * index + 2 : 34 * (index + 1)], np.int8)
        assert scale == np.float16(np.abs(block).max() / np.float32(127))
        if scale:
            assert np.abs(values * np.float32(scale) - block).max() <= scale * 0.51
        else:
            assert not values.any()


def test_q8_0_rejects_rows_that_are_not_whole_blocks() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        quantize_q8_0(np.ones((2, 48), np.float32))


def test_mel_filters_match_whisper_slaney_filterbank() -> None:
    filters = slaney_mel_filters(80)
    assert filters.shape == (80, 201) and filters.dtype == np.float32
    assert (filters >= 0).all()
    # Slaney normalisation gives every triangle unit area in Hz (bins are 40 Hz apart; the
    # coarse sampling of the narrow low-frequency triangles costs a few percent).
    np.testing.assert_allclose(filters.sum(axis=1) * 40.0, 1.0, atol=0.1)
    # Reference values from OpenAI Whisper's assets/mel_filters.npz ("mel_80").
    np.testing.assert_allclose(filters[0, :3], [0, 0.02486259, 0], atol=1e-7)
    np.testing.assert_allclose(filters[40, 42:45], [0.0054111, 0.01473557, 0.00651819], atol=1e-7)
    assert np.flatnonzero(filters[79]).tolist() == list(range(186, 200))


@pytest.mark.parametrize(
    ("token", "expected"),
    [("Ġhello", b" hello"), ("Ċ", b"\n"), ("âĢĻ", "\u2019".encode()), ("Ā", b"\0"), ("Ń", b"\xad")],
)
def test_bpe_tokens_decode_back_to_bytes(token: str, expected: bytes) -> None:
    assert bpe_token_bytes(token) == expected


def test_bpe_rejects_characters_outside_the_byte_alphabet() -> None:
    with pytest.raises(ValueError, match="byte-level BPE"):
        bpe_token_bytes("€")


def test_ct2_reader_reads_rows(tmp_path: Path) -> None:
    matrix = np.arange(12, dtype=np.float16).reshape(4, 3)
    write_ct2_model(tmp_path / "model.bin", {"m": matrix, "n": np.array(7, np.int16)}, {})
    with Ct2Model(tmp_path / "model.bin") as ct2:
        assert ct2.shape("m") == (4, 3) and ct2.scalar("n") == 7
        np.testing.assert_array_equal(ct2.rows("m", 1, 3), matrix[1:3])


@pytest.mark.parametrize("cut", [3, 10, 40, -7, -1])
def test_ct2_reader_rejects_truncated_file(tmp_path: Path, cut: int) -> None:
    write_ct2_model(tmp_path / "model.bin", {"m": np.ones((4, 3), np.float16)}, {"a": "m"})
    (tmp_path / "model.bin").write_bytes((tmp_path / "model.bin").read_bytes()[:cut])
    with pytest.raises(ValueError, match="truncated"):
        Ct2Model(tmp_path / "model.bin")


def test_ct2_reader_rejects_other_formats(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(struct.pack("<I", 5) + _ct2_string("WhisperSpec"))
    with pytest.raises(ValueError, match="binary version 5"):
        Ct2Model(tmp_path / "model.bin")
    (tmp_path / "model.bin").write_bytes(struct.pack("<I", 6) + _ct2_string("TransformerSpec"))
    with pytest.raises(ValueError, match="not a Whisper model"):
        Ct2Model(tmp_path / "model.bin")


def test_conversion_header_vocab_and_attention_split(converted: tuple[Path, dict]) -> None:
    out, variables = converted
    validate_ggml(out)
    with open(out, "rb") as file:
        assert struct.unpack("<I11i", file.read(48)) == (
            0x67676D6C, len(VOCAB), AUDIO_CTX, STATE, 2, 1, TEXT_CTX, STATE, 2, 1, MELS, 2007
        )  # fmt: skip
        file.seek(8 + 80 * 201 * 4, 1)
        assert struct.unpack("<i", file.read(4))[0] == len(REGULAR_TOKENS)
        assert file.read(4 + 1 + 4 + 6) == b"\1\0\0\0!\6\0\0\0 hello"
    tensors = read_ggml_tensors(out)
    assert len(tensors) == 7 + 15 + 4 + 24
    assert tensors["encoder.conv1.bias"][:2] == (0, (1, STATE))
    assert tensors["encoder.conv1.weight"][:2] == (1, (3, MELS, STATE))
    assert tensors["decoder.token_embedding.weight"][:2] == (8, (STATE, len(VOCAB)))
    qkv = variables["decoder/layer_0/self_attention/linear_0/weight"].astype(np.float32)
    kv = variables["decoder/layer_0/attention/linear_1/weight"].astype(np.float32)
    expected = {
        "decoder.blocks.0.attn.query.weight": qkv[:STATE],
        "decoder.blocks.0.attn.key.weight": qkv[STATE : 2 * STATE],
        "decoder.blocks.0.attn.value.weight": qkv[2 * STATE :],
        "decoder.blocks.0.cross_attn.key.weight": kv[:STATE],
        "decoder.blocks.0.cross_attn.value.weight": kv[STATE:],
    }
    for name, source in expected.items():
        np.testing.assert_allclose(dequantize_q8_0(tensors[name][2], STATE), source, atol=0.03)
    value_bias = np.frombuffer(tensors["decoder.blocks.0.cross_attn.value.bias"][2], "<f4")
    np.testing.assert_array_equal(
        value_bias, variables["decoder/layer_0/attention/linear_1/bias"][STATE:]
    )
    assert "decoder.blocks.0.attn.key.bias" not in tensors


def test_conversion_is_reproducible_and_reports_progress(tmp_path: Path) -> None:
    ct2_dir, fractions = write_tiny_ct2_dir(tmp_path / "ct2"), []
    convert_ct2_whisper(ct2_dir, tmp_path / "a.bin", progress=fractions.append)
    convert_ct2_whisper(ct2_dir, tmp_path / "b.bin")
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_conversion_rejects_non_zero_key_bias(tmp_path: Path) -> None:
    variables = tiny_whisper_variables()
    variables["encoder/layer_0/self_attention/linear_0/bias"][STATE] = 1
    with pytest.raises(ValueError, match="non-zero key bias"):
        convert_ct2_whisper(write_tiny_ct2_dir(tmp_path / "ct2", variables), tmp_path / "o.bin")


def test_conversion_rejects_mismatched_vocabulary(tmp_path: Path) -> None:
    ct2_dir = write_tiny_ct2_dir(tmp_path / "ct2")
    (ct2_dir / "vocabulary.txt").write_text("\n".join(VOCAB[:-1]), encoding="utf-8")
    with pytest.raises(ValueError, match="vocabulary has 5 tokens"):
        convert_ct2_whisper(ct2_dir, tmp_path / "o.bin")


@pytest.mark.parametrize(
    "keep", [0, 20, 48, 60, VOCAB_OFFSET + 7, TENSORS_OFFSET + 3, TENSORS_OFFSET + 20, -4000, -1]
)
def test_validate_rejects_truncated_model(converted: tuple[Path, dict], keep: int) -> None:
    out, _ = converted
    out.write_bytes(out.read_bytes()[:keep])
    with pytest.raises(ValueError, match=r"truncated|missing"):
        validate_ggml(out)


def test_validate_rejects_model_cut_between_tensors(converted: tuple[Path, dict]) -> None:
    out, _ = converted
    out.write_bytes(out.read_bytes()[:TENSORS_OFFSET])
    with pytest.raises(ValueError, match="50 tensors missing"):
        validate_ggml(out)


@pytest.mark.parametrize(
    ("offset", "junk", "message"),
    [
        (0, b"GGUF", "bad magic"),
        (44, struct.pack("<i", 99), "unsupported ftype"),
        (48, struct.pack("<i", 128), "mel filters"),
        (VOCAB_OFFSET, struct.pack("<i", 1 << 30), "vocabulary count"),
        (VOCAB_OFFSET + 4, struct.pack("<i", -3), "token 0 is malformed"),
        (TENSORS_OFFSET + 4, struct.pack("<i", 9999), "malformed tensor header"),
    ],
)
def test_validate_rejects_garbage_header(
    converted: tuple[Path, dict], offset: int, junk: bytes, message: str
) -> None:
    out, _ = converted
    data = bytearray(out.read_bytes())
    data[offset : offset + len(junk)] = junk
    out.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=message):
        validate_ggml(out)


def test_validate_rejects_random_bytes_and_trailing_junk(converted: tuple[Path, dict]) -> None:
    out, _ = converted
    good = out.read_bytes()
    out.write_bytes(good + b"\0" * 20)
    with pytest.raises(ValueError, match="malformed tensor header"):
        validate_ggml(out)
    out.write_bytes(np.random.default_rng(2).bytes(4096))
    with pytest.raises(ValueError, match="bad magic"):
        validate_ggml(out)
