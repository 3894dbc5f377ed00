"""The language model: llama.cpp through llama-cpp-python, streamed.

llama-cpp-python keeps the evaluated tokens of the last call and reuses the
longest common prefix of the next prompt, so the system prompt and the history
are not evaluated again each turn: only the new question is. Keeping the
messages' order stable (system, examples, history, question) is what makes
that work.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, cast

from appliance.speech.protocols import Message

if TYPE_CHECKING:
    from llama_cpp.llama_types import (
        ChatCompletionRequestMessage,
        CreateChatCompletionStreamResponse,
    )

GGML_TYPE_Q8_0 = 8  # ggml's number for the 8-bit block type
# The chat template wraps each message in a few tokens ("<|im_start|>user\n" ... "<|im_end|>\n").
TEMPLATE_TOKENS_PER_MESSAGE = 8


class LocalLlm:
    """A GGUF chat model on the CPU."""

    def __init__(
        self, model_path: Path, threads: int = 2, context_tokens: int = 1024, batch: int = 256
    ) -> None:
        from llama_cpp import Llama

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"language model not found: {path}")
        # Prompts are evaluated while nothing else runs, so they get every core;
        # generation overlaps with the voice, so it keeps to `threads` (see use_threads).
        self.threads = threads
        self.all_threads = max(threads, min(4, os.cpu_count() or 1))
        try:
            self.llama = Llama(
                model_path=str(path),
                n_ctx=context_tokens,
                n_batch=batch,
                n_threads=threads,
                n_threads_batch=self.all_threads,
                # The attention cache in 8 bits instead of 16: 11 MB less for 1024 tokens.
                # llama.cpp needs flash attention to quantize the values' half of it.
                flash_attn=True,
                type_k=GGML_TYPE_Q8_0,
                type_v=GGML_TYPE_Q8_0,
                verbose=False,
            )
        except ValueError as error:
            raise ValueError(f"cannot load the language model {path.name}: {error}") from None
        self.context_tokens = context_tokens
        self.stop_reason = ""
        # One llama context: two threads in it at once would crash the process. Re-entrant,
        # so the thread holding an unfinished stream may still prefill.
        self._lock = threading.RLock()

    def use_threads(self, threads: int) -> None:
        """Generate the next tokens on ``threads`` threads (prompts always get every core).

        Until the first words of a reply are out, nothing else needs the CPU, and two
        threads write a token about a quarter faster than one; once the voice speaks,
        they compete with it, and one is faster overall (measured by ``parlo bench``).
        """
        import llama_cpp

        llama_cpp.llama_set_n_threads(self.llama.ctx, threads, self.all_threads)

    def close(self) -> None:
        """Let go of the model's memory now (a model replaced by a config change)."""
        with self._lock:
            self.llama.close()

    def count_tokens(self, messages: list[Message]) -> int:
        """About how many tokens ``messages`` take in the context (a few more, never fewer)."""
        text = "".join(message["content"] for message in messages).encode()
        with self._lock:
            tokens = len(self.llama.tokenize(text, add_bos=False, special=False))
        return tokens + TEMPLATE_TOKENS_PER_MESSAGE * len(messages)

    def prefill(self, messages: list[Message]) -> None:
        """Evaluate ``messages`` now: a turn that starts with them evaluates only its question."""
        with self._lock:
            self.llama.create_chat_completion(
                messages=_request(messages), max_tokens=1, temperature=0.0
            )

    def stream(
        self,
        messages: list[Message],
        max_tokens: int,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        temperature: float = 0.6,
        max_seconds: float = 10.0,
    ) -> Generator[str, None, None]:
        """Yield the reply's text piece by piece until done, stopped, or out of time or tokens.

        Afterwards :attr:`stop_reason` says why it ended: ``"stop"`` (the model
        finished), ``"length"`` (``max_tokens``), ``"time"`` or ``"cancelled"``.
        """
        with self._lock:
            yield from self._stream(messages, max_tokens, should_stop, temperature, max_seconds)

    def _stream(
        self,
        messages: list[Message],
        max_tokens: int,
        should_stop: Callable[[], bool],
        temperature: float,
        max_seconds: float,
    ) -> Generator[str, None, None]:
        self.stop_reason = "stop"
        deadline = time.monotonic() + max_seconds
        # With stream=True, llama-cpp-python returns a generator of chunks.
        chunks = cast(
            "Generator[CreateChatCompletionStreamResponse, None, None]",
            self.llama.create_chat_completion(
                messages=_request(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=0.9,
                repeat_penalty=1.1,
                seed=1234,
                stream=True,
            ),
        )
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                text = choice["delta"].get("content")
                if text and isinstance(text, str):
                    yield text
                if finish_reason := choice.get("finish_reason"):
                    self.stop_reason = finish_reason
                if should_stop():
                    self.stop_reason = "cancelled"
                    break
                if time.monotonic() > deadline:
                    self.stop_reason = "time"
                    break
        finally:
            chunks.close()


def _request(messages: list[Message]) -> list[ChatCompletionRequestMessage]:
    """``messages`` as llama-cpp-python types them (each has a role and a text content)."""
    return cast("list[ChatCompletionRequestMessage]", messages)
