"""Convert a CTranslate2 Whisper model into whisper.cpp's ggml file format, with numpy only.

We ship one set of Whisper weights (a CTranslate2 export) but transcribe with whisper.cpp, whose
loader (``whisper_model_load`` in whisper.cpp) reads this little-endian layout:

1. Header: magic ``"ggml"``, then eleven int32 hyperparameters (see `WhisperHparams`).
2. Mel filterbank: ``n_mel``, ``n_fft`` (int32), then ``n_mel * n_fft`` float32 weights.
3. Vocabulary: an int32 count, then per token an int32 length and its raw UTF-8 bytes.
   Only the regular BPE tokens are stored; whisper.cpp invents the special tokens itself.
4. Tensors until end of file: int32 ``n_dims``, name length and ggml type, the dimensions
   innermost first (``ne0`` = numpy's last axis), the name, then the raw data.

Weight matrices are stored as q8_0: each row is cut into blocks of 32 values that share one
fp16 scale ``d = max|x| / 127``; each value is kept as ``round(x / d)`` in an int8.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

GGML_MAGIC = 0x67676D6C
GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0 = 0, 1, 8
# ggml type id -> (values per block, bytes per block), for the types whisper models use.
GGML_BLOCK_LAYOUT = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
}
# Header ftype (modulo the quantization version factor) -> ggml type of the weight matrices.
FTYPE_TO_MATRIX_TYPE = {0: 0, 1: 1, 2: 2, 3: 3, 7: 8, 8: 6, 9: 7}
GGML_QNT_VERSION_FACTOR, GGML_QNT_VERSION, GGML_FTYPE_MOSTLY_Q8_0 = 1000, 2, 7
Q8_0_BLOCK_SIZE = 32
Q8_0_BLOCK = np.dtype([("scale", "<f2"), ("values", "i1", (Q8_0_BLOCK_SIZE,))])
WHISPER_SAMPLE_RATE, WHISPER_N_FFT = 16000, 400

CT2_BINARY_VERSION = 6
CT2_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),  # 5 is bfloat16, kept as raw bits
}
CT2_BFLOAT16 = 5
CT2_GELU = 3  # ctranslate2::ops::ActivationType::GELU
CT2_FLAGS_AND_SCALARS = {"activation", "alibi", "alignment_heads", "alignment_layer", "num_heads"}
CT2_FLAGS_AND_SCALARS |= {"pre_norm", "scale_embeddings", "start_from_zero_embedding"}

ROWS_PER_CHUNK = 4096  # bounds peak memory while streaming the 51864-row token embedding


@dataclass(frozen=True)
class WhisperHparams:
    """The header fields of a whisper.cpp model, in file order."""

    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int
    ftype: int


TensorKind = Literal["f32", "conv", "matrix"]


@dataclass(frozen=True)
class TensorPlan:
    """One whisper.cpp tensor: its name, numpy shape, storage kind and CTranslate2 source.

    A fused CTranslate2 projection (e.g. QKV) is split by rows: this tensor is part ``part``
    of ``parts`` equal row slices of ``ct2_name``.
    """

    name: str
    shape: tuple[int, ...]
    kind: TensorKind
    ct2_name: str
    part: int = 0
    parts: int = 1


def whisper_tensor_plan(hp: WhisperHparams) -> list[TensorPlan]:
    """List every tensor whisper.cpp's loader expects for ``hp``, with where it comes from."""
    n, plan = hp.n_audio_state, []

    def add(name: str, shape: tuple[int, ...], kind: TensorKind, ct2: str, *split: int) -> None:
        plan.append(TensorPlan(name, shape, kind, ct2, *split))

    def norm(name: str, ct2: str) -> None:
        add(f"{name}.weight", (n,), "f32", f"{ct2}/gamma")
        add(f"{name}.bias", (n,), "f32", f"{ct2}/beta")

    def linear(name: str, ct2: str, shape: tuple[int, int], *split: int) -> None:
        add(f"{name}.weight", shape, "matrix", f"{ct2}/weight", *split)
        add(f"{name}.bias", shape[:1], "f32", f"{ct2}/bias", *split)

    def attention(name: str, ct2: str, fused_qkv: bool) -> None:
        # Self-attention fuses Q, K, V (row blocks, in that order) into linear_0. Cross-attention
        # keeps Q in linear_0 and fuses K, V into linear_1. Whisper's key projection has no bias;
        # CTranslate2 pads one with zeros, which convert_ct2_whisper checks and drops.
        kv, parts, out = ("linear_0", 3, "linear_1") if fused_qkv else ("linear_1", 2, "linear_2")
        linear(f"{name}.query", f"{ct2}/linear_0", (n, n), 0, 3 if fused_qkv else 1)
        add(f"{name}.key.weight", (n, n), "matrix", f"{ct2}/{kv}/weight", parts - 2, parts)
        linear(f"{name}.value", f"{ct2}/{kv}", (n, n), parts - 1, parts)
        linear(f"{name}.out", f"{ct2}/{out}", (n, n))

    for system, n_ctx, n_layers in (
        ("encoder", hp.n_audio_ctx, hp.n_audio_layer),
        ("decoder", hp.n_text_ctx, hp.n_text_layer),
    ):
        add(
            f"{system}.positional_embedding",
            (n_ctx, n),
            "f32",
            f"{system}/position_encodings/encodings",
        )
        if system == "encoder":
            for conv, n_in in (("conv1", hp.n_mels), ("conv2", n)):
                add(f"encoder.{conv}.weight", (n, n_in, 3), "conv", f"encoder/{conv}/weight")
                add(f"encoder.{conv}.bias", (n, 1), "f32", f"encoder/{conv}/bias")
        else:
            add(
                "decoder.token_embedding.weight",
                (hp.n_vocab, n),
                "matrix",
                "decoder/embeddings/weight",
            )
        for i in range(n_layers):
            block, ct2 = f"{system}.blocks.{i}", f"{system}/layer_{i}"
            norm(f"{block}.attn_ln", f"{ct2}/self_attention/layer_norm")
            attention(f"{block}.attn", f"{ct2}/self_attention", fused_qkv=True)
            if system == "decoder":
                norm(f"{block}.cross_attn_ln", f"{ct2}/attention/layer_norm")
                attention(f"{block}.cross_attn", f"{ct2}/attention", fused_qkv=False)
            norm(f"{block}.mlp_ln", f"{ct2}/ffn/layer_norm")
            linear(f"{block}.mlp.0", f"{ct2}/ffn/linear_0", (4 * n, n))
            linear(f"{block}.mlp.2", f"{ct2}/ffn/linear_1", (n, 4 * n))
        norm("encoder.ln_post" if system == "encoder" else "decoder.ln", f"{system}/layer_norm")
    return plan


def quantize_q8_0(matrix: np.ndarray) -> np.ndarray:
    """Quantize rows of ``matrix`` to q8_0 blocks, exactly like ggml's reference quantizer.

    The scale and its reciprocal are computed in float32 and values rounded half away from
    zero (C's ``roundf``), so the output matches ggml's own ``quantize`` tool bit for bit.
    """
    if matrix.ndim != 2 or matrix.shape[1] % Q8_0_BLOCK_SIZE:
        raise ValueError(f"q8_0 needs rows that are a multiple of 32 long, got {matrix.shape}")
    values = matrix.astype(np.float32).reshape(-1, Q8_0_BLOCK_SIZE)
    scale = np.abs(values).max(axis=1) / np.float32(127)
    inverse = np.divide(np.float32(1), scale, out=np.zeros_like(scale), where=scale != 0)
    scaled = values * inverse[:, None]
    rounded = np.trunc(scaled)
    rounded += np.sign(scaled) * (np.abs(scaled - rounded) >= 0.5)  # exact, unlike x + 0.5
    blocks = np.empty(values.shape[0], dtype=Q8_0_BLOCK)
    blocks["scale"] = scale.astype(np.float16)
    blocks["values"] = rounded.astype(np.int8)
    return blocks.reshape(matrix.shape[0], -1)


def slaney_mel_filters(
    n_mels: int = 80, n_fft: int = WHISPER_N_FFT, sample_rate: int = WHISPER_SAMPLE_RATE
) -> np.ndarray:
    """Triangular mel filterbank as used to train Whisper (librosa's default Slaney variant).

    The Slaney mel scale is linear below 1 kHz and logarithmic above; each triangle is scaled
    to unit area in Hz ("slaney" norm). Returns float32 of shape (n_mels, n_fft // 2 + 1).
    """
    linear_hz_per_mel, log_start_hz = 200.0 / 3, 1000.0
    log_start_mel, mels_per_log_hz = log_start_hz / linear_hz_per_mel, 27.0 / np.log(6.4)

    def hz_to_mel(hz: float) -> float:
        if hz < log_start_hz:
            return hz / linear_hz_per_mel
        return log_start_mel + np.log(hz / log_start_hz) * mels_per_log_hz

    mels = np.linspace(0.0, hz_to_mel(sample_rate / 2), n_mels + 2)
    edges = np.where(
        mels < log_start_mel,
        mels * linear_hz_per_mel,
        log_start_hz * np.exp((mels - log_start_mel) / mels_per_log_hz),
    )
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    rising, falling = (fft_hz - lower) / (center - lower), (upper - fft_hz) / (upper - center)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return (triangles * (2.0 / (upper - lower))).astype(np.float32)


def _gpt2_unicode_to_byte() -> dict[str, int]:
    """Invert GPT-2's byte-to-printable-character table used by byte-level BPE vocabularies.

    Printable Latin-1 bytes stand for themselves; the other bytes, in order, were moved to
    code points 256, 257, ... so every token is a printable string.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    moved = [b for b in range(256) if b not in printable]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + i): b for i, b in enumerate(moved)})
    return table


_UNICODE_TO_BYTE = _gpt2_unicode_to_byte()


def bpe_token_bytes(token: str) -> bytes:
    """Turn a byte-level BPE token such as ``"Ġhello"`` back into its bytes (``b" hello"``)."""
    try:
        return bytes(_UNICODE_TO_BYTE[char] for char in token)
    except KeyError as error:
        raise ValueError(f"token {token!r} is not a byte-level BPE token") from error


def _read_exact(file: BinaryIO, size: int, what: str) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise ValueError(f"{what}: file is truncated ({len(data)} of {size} bytes)")
    return data


def _unpack(file: BinaryIO, fmt: str, what: str) -> tuple[Any, ...]:
    return struct.unpack("<" + fmt, _read_exact(file, struct.calcsize("<" + fmt), what))


class Ct2Model:
    """Random access to the variables of a CTranslate2 ``model.bin`` without loading it all.

    The file holds: uint32 version, spec name, uint32 revision, uint32 variable count, then per
    variable its name, uint8 rank, uint32 dims, uint8 dtype id, uint32 byte count and data, and
    finally a count of (alias, target) name pairs. Strings are uint16 length (with NUL) + bytes.
    """

    def __init__(self, path: Path) -> None:
        self._what = f"CTranslate2 model {path}"
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close() / the context manager
        try:
            self._index(path)
        except BaseException:
            self._file.close()
            raise

    def _string(self) -> str:
        (length,) = _unpack(self._file, "H", self._what)
        raw = _read_exact(self._file, length, self._what)
        if length == 0 or raw[-1] != 0:
            raise ValueError(f"{self._what}: malformed string")
        return raw[:-1].decode("utf-8", errors="replace")

    def _index(self, path: Path) -> None:
        file_size = path.stat().st_size
        (version,) = _unpack(self._file, "I", self._what)
        if version != CT2_BINARY_VERSION:
            raise ValueError(f"{self._what}: binary version {version}, expected 6")
        spec = self._string()
        if spec != "WhisperSpec":
            raise ValueError(f"{self._what}: spec {spec!r} is not a Whisper model")
        _revision, n_variables = _unpack(self._file, "II", self._what)
        self.variables: dict[str, tuple[tuple[int, ...], int, int]] = {}
        for _ in range(n_variables):
            name = self._string()
            (rank,) = _unpack(self._file, "B", self._what)
            shape = _unpack(self._file, f"{rank}I", self._what)
            dtype_id, n_bytes = _unpack(self._file, "BI", self._what)
            offset = self._file.tell()
            if dtype_id not in CT2_DTYPES:
                raise ValueError(f"{self._what}: {name} has unknown dtype id {dtype_id}")
            if n_bytes != math.prod(shape) * CT2_DTYPES[dtype_id].itemsize:
                raise ValueError(f"{self._what}: {name} size does not match its shape {shape}")
            if offset + n_bytes > file_size:
                raise ValueError(f"{self._what}: file is truncated inside {name}")
            self.variables[name] = (shape, dtype_id, offset)
            self._file.seek(n_bytes, 1)
        (n_aliases,) = _unpack(self._file, "I", self._what)
        self.aliases = {self._string(): self._string() for _ in range(n_aliases)}
        if self._file.tell() != file_size:
            raise ValueError(f"{self._what}: unexpected data after the alias table")

    def shape(self, name: str) -> tuple[int, ...]:
        if name not in self.variables:
            raise ValueError(f"{self._what}: missing variable {name}")
        return self.variables[name][0]

    def scalar(self, name: str) -> int:
        shape, dtype_id, offset = self.variables.get(name, (None, None, 0))
        if shape != () or dtype_id not in (1, 2, 3):
            raise ValueError(f"{self._what}: {name} is missing or not an integer scalar")
        self._file.seek(offset)
        dtype = CT2_DTYPES[dtype_id]
        return int(np.frombuffer(self._file.read(dtype.itemsize), dtype)[0])

    def rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of a floating-point variable, as float32."""
        shape, dtype_id, offset = self.variables[name]
        dtype = CT2_DTYPES[dtype_id]
        if dtype_id not in (0, 4, CT2_BFLOAT16):
            raise ValueError(f"{self._what}: {name} is {dtype}, not a float16/32 weight")
        row_size = math.prod(shape[1:])
        self._file.seek(offset + start * row_size * dtype.itemsize)
        count = (stop - start) * row_size
        raw = np.frombuffer(self._file.read(count * dtype.itemsize), dtype)
        values = (raw.astype(np.uint32) << 16).view("<f4") if dtype_id == CT2_BFLOAT16 else raw
        return values.astype(np.float32).reshape((stop - start, *shape[1:]))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Ct2Model:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _layer_count(ct2: Ct2Model, system: str) -> int:
    indices = {
        int(m.group(1))
        for name in ct2.variables
        if (m := re.match(rf"{system}/layer_(\d+)/", name))
    }
    if not indices or indices != set(range(len(indices))):
        raise ValueError(f"{system} layers are missing or not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def _hparams_from_ct2(ct2: Ct2Model) -> WhisperHparams:
    n_vocab, n_text_state = ct2.shape("decoder/embeddings/weight")
    n_audio_ctx, n_audio_state = ct2.shape("encoder/position_encodings/encodings")
    hp = WhisperHparams(
        n_vocab=n_vocab,
        n_audio_ctx=n_audio_ctx,
        n_audio_state=n_audio_state,
        n_audio_head=ct2.scalar("encoder/num_heads"),
        n_audio_layer=_layer_count(ct2, "encoder"),
        n_text_ctx=ct2.shape("decoder/position_encodings/encodings")[0],
        n_text_state=n_text_state,
        n_text_head=ct2.scalar("decoder/num_heads"),
        n_text_layer=_layer_count(ct2, "decoder"),
        n_mels=ct2.shape("encoder/conv1/weight")[1],
        ftype=GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + GGML_FTYPE_MOSTLY_Q8_0,
    )
    if n_text_state != n_audio_state or n_audio_state % Q8_0_BLOCK_SIZE:
        raise ValueError(f"unsupported widths: audio {n_audio_state}, text {n_text_state}")
    if "decoder/activation" in ct2.variables and ct2.scalar("decoder/activation") != CT2_GELU:
        raise ValueError("the model does not use GELU activations, so it is not Whisper")
    return hp


def _regular_tokens(ct2_dir: Path, n_vocab: int) -> list[str]:
    """The byte-level BPE tokens that precede ``<|endoftext|>`` in the model's vocabulary."""
    if (ct2_dir / "vocabulary.json").is_file():
        tokens = json.loads((ct2_dir / "vocabulary.json").read_text(encoding="utf-8"))
    elif (ct2_dir / "vocabulary.txt").is_file():
        tokens = (ct2_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
        tokens = tokens[:-1] if tokens[-1] == "" else tokens
    else:
        raise ValueError(f"{ct2_dir} has no vocabulary.txt or vocabulary.json")
    if len(tokens) != n_vocab or "<|endoftext|>" not in tokens:
        raise ValueError(
            f"vocabulary has {len(tokens)} tokens, the model {n_vocab} "
            "(and it must contain <|endoftext|>)"
        )
    return tokens[: tokens.index("<|endoftext|>")]


def _ggml_type(kind: TensorKind, hp: WhisperHparams) -> int:
    matrix_type = FTYPE_TO_MATRIX_TYPE[hp.ftype % GGML_QNT_VERSION_FACTOR]
    conv_type = GGML_TYPE_F32 if matrix_type == GGML_TYPE_F32 else GGML_TYPE_F16
    return {"f32": GGML_TYPE_F32, "conv": conv_type, "matrix": matrix_type}[kind]


def _source_rows(ct2: Ct2Model, source: TensorPlan) -> Iterator[np.ndarray]:
    """Stream the tensor's data from its CTranslate2 source, checking the shapes agree."""
    ct2_shape, rows = ct2.shape(source.ct2_name), source.shape[0]
    expected = (rows * source.parts, *source.shape[1:])
    if ct2_shape != expected and (*ct2_shape, 1) != expected:  # conv biases gain a unit axis
        raise ValueError(f"{source.ct2_name} has shape {ct2_shape}, expected {expected}")
    first = source.part * rows
    for start in range(first, first + rows, ROWS_PER_CHUNK):
        chunk = ct2.rows(source.ct2_name, start, min(start + ROWS_PER_CHUNK, first + rows))
        yield chunk.reshape(-1, *source.shape[1:])


def _check_ct2_layout(ct2: Ct2Model, plan: list[TensorPlan]) -> None:
    """Reject CTranslate2 models whose variables this converter would not use in full."""
    if any(name.endswith("_scale") for name in ct2.variables):
        raise ValueError("the CTranslate2 model is quantized; export it as float16 or float32")
    key_biases = [
        replace(p, shape=p.shape[:1], ct2_name=p.ct2_name.replace("/weight", "/bias"))
        for p in plan
        if p.name.endswith(".key.weight")
    ]
    for bias in key_biases:
        if any(np.any(chunk != 0) for chunk in _source_rows(ct2, bias)):
            raise ValueError(f"{bias.ct2_name} has a non-zero key bias; Whisper has none")
    used = {p.ct2_name for p in plan + key_biases}
    unused = [
        name
        for name in ct2.variables
        if name not in used and name.rsplit("/", 1)[-1] not in CT2_FLAGS_AND_SCALARS
    ]
    if unused:
        raise ValueError(f"unexpected CTranslate2 variables (not a Whisper layout?): {unused[:5]}")
    if set(ct2.aliases) - {"decoder/projection/weight"}:
        raise ValueError(f"unexpected CTranslate2 aliases: {sorted(ct2.aliases)}")


def convert_ct2_whisper(
    ct2_dir: Path, out_path: Path, *, progress: Callable[[float], None] | None = None
) -> None:
    """Write a whisper.cpp ggml q8_0 model converted from a CTranslate2 Whisper model directory.

    ``ct2_dir`` must hold ``model.bin`` and ``vocabulary.txt`` (or ``.json``). Tensors are
    streamed to ``out_path``; ``progress`` receives the fraction of weights written so far.
    The output is byte-for-byte reproducible. Raises ValueError with a clear message on
    unexpected input.
    """
    with Ct2Model(Path(ct2_dir) / "model.bin") as ct2:
        hp = _hparams_from_ct2(ct2)
        tokens = _regular_tokens(Path(ct2_dir), hp.n_vocab)
        plan = whisper_tensor_plan(hp)
        _check_ct2_layout(ct2, plan)
        filters = slaney_mel_filters(hp.n_mels)
        total_values, written_values = sum(math.prod(p.shape) for p in plan), 0
        with open(out_path, "wb") as out:
            out.write(struct.pack("<I11i", GGML_MAGIC, *astuple(hp)))
            out.write(struct.pack("<2i", *filters.shape) + filters.astype("<f4").tobytes())
            out.write(struct.pack("<i", len(tokens)))
            for token in tokens:
                token_bytes = bpe_token_bytes(token)
                out.write(struct.pack("<i", len(token_bytes)) + token_bytes)
            for tensor in plan:
                ggml_type, name = _ggml_type(tensor.kind, hp), tensor.name.encode()
                out.write(struct.pack("<3i", len(tensor.shape), len(name), ggml_type))
                out.write(struct.pack(f"<{len(tensor.shape)}i", *reversed(tensor.shape)) + name)
                float_dtype = "<f2" if ggml_type == GGML_TYPE_F16 else "<f4"
                for chunk in _source_rows(ct2, tensor):
                    if ggml_type == GGML_TYPE_Q8_0:
                        out.write(quantize_q8_0(chunk).tobytes())
                    else:
                        out.write(chunk.astype(float_dtype).tobytes())
                written_values += math.prod(tensor.shape)
                if progress is not None:
                    progress(written_values / total_values)


def read_ggml_header(file: BinaryIO, file_size: int) -> tuple[WhisperHparams, int]:
    """Parse and sanity-check a whisper ggml header, mel filters and vocabulary.

    Leaves ``file`` at the first tensor and returns the hyperparameters and vocabulary size.
    """
    what = "whisper ggml model"
    magic, *fields = _unpack(file, "I11i", what)
    if magic != GGML_MAGIC:
        raise ValueError(f"{what}: bad magic {magic:#010x}, this is not a ggml file")
    hp = WhisperHparams(*fields)
    if not (all(0 < value < 1 << 20 for value in fields[:-1]) and hp.ftype >= 0):
        raise ValueError(f"{what}: implausible header {hp}")
    if hp.ftype % GGML_QNT_VERSION_FACTOR not in FTYPE_TO_MATRIX_TYPE:
        raise ValueError(f"{what}: unsupported ftype {hp.ftype}")
    if hp.n_audio_state != hp.n_text_state:
        raise ValueError(f"{what}: audio and text widths differ ({hp})")
    n_mel, n_bins = _unpack(file, "2i", what)
    if (n_mel, n_bins) != (hp.n_mels, WHISPER_N_FFT // 2 + 1):
        raise ValueError(f"{what}: mel filters are {n_mel}x{n_bins}, expected {hp.n_mels}x201")
    if file.seek(n_mel * n_bins * 4, 1) > file_size:
        raise ValueError(f"{what}: file is truncated inside the mel filters")
    (n_tokens,) = _unpack(file, "i", what)
    if not 0 <= n_tokens <= hp.n_vocab:
        raise ValueError(f"{what}: vocabulary count {n_tokens} outside 0..{hp.n_vocab}")
    for index in range(n_tokens):
        (length,) = _unpack(file, "i", f"{what} vocabulary")
        if not 0 <= length <= 1024 or file.seek(length, 1) > file_size:
            raise ValueError(f"{what}: token {index} is malformed or truncated")
    return hp, n_tokens


def validate_ggml(path: Path) -> None:
    """Cheaply check that ``path`` is a complete whisper.cpp model before whisper.cpp sees it.

    whisper.cpp trusts the file and may crash on a damaged one, so this walks the header,
    vocabulary and whole tensor table, checking every tensor's name, shape, type and data
    size against what the loader will expect and against the file length. Weights are not
    read. Raises ValueError describing the first problem found.
    """
    file_size = Path(path).stat().st_size
    with open(path, "rb") as file:
        hp, _ = read_ggml_header(file, file_size)
        expected = {tensor.name: tensor for tensor in whisper_tensor_plan(hp)}
        seen: set[str] = set()
        while file.tell() < file_size:
            what = f"whisper ggml model, tensor {len(seen)}"
            n_dims, name_length, ggml_type = _unpack(file, "3i", what)
            if not (1 <= n_dims <= 4 and 0 < name_length <= 256):
                raise ValueError(f"{what}: malformed tensor header")
            dims = _unpack(file, f"{n_dims}i", what)
            name = _read_exact(file, name_length, what).decode("utf-8", errors="replace")
            if name not in expected or name in seen:
                raise ValueError(f"{what}: unknown or repeated tensor {name!r}")
            tensor = expected[name]
            seen.add(name)
            if tuple(reversed(dims)) != tensor.shape or ggml_type != _ggml_type(tensor.kind, hp):
                raise ValueError(
                    f"{what}: {name} is {dims} of type {ggml_type}, expected "
                    f"{tensor.shape[::-1]} of type {_ggml_type(tensor.kind, hp)}"
                )
            block_values, block_bytes = GGML_BLOCK_LAYOUT[ggml_type]
            if dims[0] % block_values:
                raise ValueError(f"{what}: {name} rows do not fill whole blocks")
            if file.seek(math.prod(dims) // block_values * block_bytes, 1) > file_size:
                raise ValueError(f"{what}: file is truncated inside {name}")
        if missing := expected.keys() - seen:
            raise ValueError(
                f"whisper ggml model: {len(missing)} tensors missing, e.g. {min(missing)}"
            )
