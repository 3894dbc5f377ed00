"""Cutting a piper (VITS) voice's ONNX graph in two: encoder and decoder.

A VITS voice turns phoneme ids into a latent spectrogram-like tensor ``z`` of
shape ``[1, channels, frames]`` (text encoder, duration predictor, flow), and
its HiFi-GAN decoder turns ``z`` into audio, ``hop_length`` samples per frame.
The decoder is a stack of convolutions, so each output sample depends only on a
few frames around it: it can be run over ``z`` piece by piece, which bounds the
memory its activations take and lets the first audio out before the rest is
decoded. This module finds ``z`` in the graph and builds the two graphs; the
caller turns them into sessions.

The cut tensor is the input of the decoder's first convolution. Piper's
exports name that node ``/dec/conv_pre/Conv``; for a graph without those names
the first convolution whose input alone (with weights, constants and at most the
speaker id) determines the audio is taken, since that is what a decoder is.

:func:`split_voice_file` does the cutting in a short-lived helper process
(``python -m appliance.speech.voice_graph VOICE.onnx FOLDER``), which writes the
two halves as files for onnxruntime to load. Loading the model into protobuf
objects and copying its weights into two new graphs briefly takes about three
times the model's size, and importing ``onnx`` adds 13 MB that would never be
given back; and onnxruntime loads a model from a file with far less memory at its
peak than from bytes (measured: +82 MB vs +190 MB for this 63 MB voice). None of
that belongs in a daemon that has to stay small.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

DECODER_FIRST_CONV = "/dec/conv_pre/Conv"
# Graph inputs the decoder may read besides the latent: a multi-speaker voice's decoder
# is conditioned on the speaker's embedding, which is a lookup of the speaker id.
DECODER_MAY_READ = frozenset({"sid"})
ENCODER_FILE, DECODER_FILE, CUT_FILE = "encoder.onnx", "decoder.onnx", "cut.json"
CACHED_VOICES = 4  # cut voices kept on disk: the current set's, the previous set's, and spares


@dataclass(frozen=True)
class SplitVoice:
    """The two halves of a voice, serialized or in files, for ``onnxruntime.InferenceSession``."""

    encoder: bytes | Path
    """Reads the voice's own inputs; its one output is the latent."""
    decoder: bytes | Path
    """Reads the latent (and the speaker id if the voice has several); outputs the audio."""
    latent: str
    """The name of the latent tensor: the encoder's output and the decoder's first input."""
    decoder_inputs: tuple[str, ...]
    """The decoder's inputs other than the latent, fed with the same values as the encoder's."""


def split_voice_file(path: Path, folder: Path, timeout_s: float = 300) -> SplitVoice | None:
    """The encoder and decoder of the voice at ``path``, cut by a helper process and written
    to ``folder`` (their paths are in the result); None if the graph has no cut.

    Raises RuntimeError if the helper fails.
    """
    command = [sys.executable, "-m", "appliance.speech.voice_graph", str(path), str(folder)]
    try:
        child = subprocess.run(
            command, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"the voice's graph could not be cut: {error}") from None
    if child.returncode != 0:
        reason = child.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise RuntimeError(f"the voice's graph could not be cut: {' '.join(reason)}")
    return _read_cut(folder)


def _read_cut(folder: Path) -> SplitVoice | None:
    """The halves in ``folder``, as its ``cut.json`` describes them; None if there is no cut."""
    cut = json.loads((folder / CUT_FILE).read_text(encoding="utf-8"))
    if cut["latent"] is None:
        return None
    return SplitVoice(
        encoder=folder / ENCODER_FILE,
        decoder=folder / DECODER_FILE,
        latent=cut["latent"],
        decoder_inputs=tuple(cut["decoder_inputs"]),
    )


def cached_split(path: Path, cache: Path) -> SplitVoice | None:
    """:func:`split_voice_file` done once per voice file: the halves are kept under ``cache``.

    Cutting takes a few seconds (a helper process loads ``onnx`` and the whole
    model), which would otherwise be paid at every start of the daemon. Installed
    model files never change in place, so a voice is known by its path, size and
    modification time. An entry is written into a temporary folder and renamed
    into place, so a crash or a second process never leaves a half-written one.
    Raises RuntimeError if the helper fails or the cache cannot be written.
    """
    stat = path.resolve().stat()
    identity = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    entry = cache / hashlib.sha256(identity).hexdigest()[:16]
    if not (entry / CUT_FILE).is_file():
        try:
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".cutting-", dir=cache) as scratch:
                split_voice_file(path, Path(scratch))
                try:
                    Path(scratch).rename(entry)
                except OSError:
                    if not (entry / CUT_FILE).is_file():  # not another process's, just now
                        raise
        except OSError as error:
            raise RuntimeError(f"cannot keep the cut voice in {cache}: {error}") from None
        _forget_old_entries(cache, keep=entry)
    else:
        with contextlib.suppress(OSError):
            os.utime(entry)  # in use: the newest, so the last to be forgotten
    return _read_cut(entry)


def _forget_old_entries(cache: Path, keep: Path, entries: int = CACHED_VOICES) -> None:
    """Delete all but the newest ``entries`` cut voices (voices come and go with packs)."""
    found = sorted(
        (p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in found[entries:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def _cut_into(path: Path, folder: Path) -> None:
    """The helper process's work: cut the voice, write both halves and where the cut is."""
    import onnx

    split = split_voice(onnx.load(str(path)))
    cut: dict[str, object] = {"latent": None}
    if split is not None:
        assert isinstance(split.encoder, bytes) and isinstance(split.decoder, bytes)
        (folder / ENCODER_FILE).write_bytes(split.encoder)
        (folder / DECODER_FILE).write_bytes(split.decoder)
        cut = {"latent": split.latent, "decoder_inputs": list(split.decoder_inputs)}
    (folder / CUT_FILE).write_text(json.dumps(cut), encoding="utf-8")


def split_voice(model: onnx.ModelProto) -> SplitVoice | None:
    """The encoder and decoder of ``model``, or None if no cut into the two is found."""
    import onnx

    graph = model.graph
    latent = find_latent(graph)
    if latent is None:
        return None
    audio = graph.output[0].name
    decoder_nodes, decoder_reads = _nodes_computing(graph, [audio], stop_at={latent})
    encoder_nodes, _ = _nodes_computing(graph, [latent], stop_at=set())
    graph_inputs = {value.name: value for value in graph.input}
    extra_inputs = [graph_inputs[name] for name in graph_inputs if name in decoder_reads]
    latent_info = onnx.helper.make_tensor_value_info(latent, _latent_type(graph, latent), None)
    encoder = _serialized_model(
        model, encoder_nodes, list(graph.input), [latent_info], name="voice_encoder"
    )
    decoder = _serialized_model(
        model, decoder_nodes, [latent_info, *extra_inputs], [graph.output[0]], name="voice_decoder"
    )
    return SplitVoice(encoder, decoder, latent, tuple(value.name for value in extra_inputs))


def find_latent(graph: onnx.GraphProto) -> str | None:
    """The name of the tensor the decoder starts from, or None if the graph has no such cut."""
    audio = graph.output[0].name
    by_name = [node for node in graph.node if node.name == DECODER_FIRST_CONV]
    candidates = by_name or [node for node in graph.node if node.op_type == "Conv"]
    for node in candidates:
        _, reads = _nodes_computing(graph, [audio], stop_at={node.input[0]})
        graph_inputs = {value.name for value in graph.input}
        if node.input[0] in reads and (reads & graph_inputs) <= DECODER_MAY_READ:
            return node.input[0]
    return None


def _nodes_computing(
    graph: onnx.GraphProto, targets: Iterable[str], stop_at: set[str]
) -> tuple[list[onnx.NodeProto], set[str]]:
    """The nodes needed to compute ``targets``, in graph order, and the outside tensors they read.

    The walk goes back from ``targets`` and does not go past ``stop_at``, graph inputs or
    initializers; those it reaches are returned as the tensors read.
    """
    producer = {output: index for index, node in enumerate(graph.node) for output in node.output}
    initializers = {tensor.name for tensor in graph.initializer}
    needed: set[int] = set()
    reads: set[str] = set()
    pending = list(targets)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or not name:
            continue
        seen.add(name)
        if name in stop_at or name in initializers or name not in producer:
            reads.add(name)
            continue
        index = producer[name]
        if index not in needed:
            needed.add(index)
            node = graph.node[index]
            pending.extend(node.input)
            pending.extend(_subgraph_reads(node))
    return [graph.node[index] for index in sorted(needed)], reads


def _subgraph_reads(node: onnx.NodeProto) -> list[str]:
    """Names that an If/Loop node's body graphs read from the enclosing graph."""
    names: list[str] = []
    for attribute in node.attribute:
        bodies = [attribute.g] if attribute.HasField("g") else list(attribute.graphs)
        for body in bodies:
            for inner in body.node:
                names.extend(inner.input)
                names.extend(_subgraph_reads(inner))
    return names


def _latent_type(graph: onnx.GraphProto, latent: str) -> int:
    import onnx

    for value in graph.value_info:
        if value.name == latent:
            return value.type.tensor_type.elem_type
    return onnx.TensorProto.FLOAT


def _serialized_model(
    model: onnx.ModelProto,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    name: str,
) -> bytes:
    import onnx

    used = {tensor for node in nodes for tensor in (*node.input, *_subgraph_reads(node))}
    graph = onnx.helper.make_graph(
        nodes,
        name,
        inputs,
        outputs,
        initializer=[tensor for tensor in model.graph.initializer if tensor.name in used],
    )
    part = onnx.helper.make_model(
        graph, opset_imports=list(model.opset_import), ir_version=model.ir_version
    )
    serialized = part.SerializeToString()
    del part, graph
    return serialized


if __name__ == "__main__":
    _cut_into(Path(sys.argv[1]), Path(sys.argv[2]))
