"""The conversation engine: a released button in, spoken words out.

One turn flows one way::

    microphone ─▶ VAD (while the button is held) ─▶ STT ─▶ LLM (streamed)
        ─▶ sentence splitter ─▶ TTS (one piece at a time) ─▶ speaker

The language model and the voice run at once: while piece *n* is spoken, piece
*n + 1* is being written and synthesized. Every call on :class:`Engine` returns
at once; the models run on the engine's own worker thread, one turn at a time.
A press during a turn is barge-in: :meth:`Engine.cancel` stops the speaker
within one audio block and winds the turn down at its next check.

Everything the engine does is published as events on its
:class:`~appliance.core.events.EventStream`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from appliance.audio.devices import Microphone, Speaker
from appliance.audio.earcons import earcon
from appliance.audio.wav import resample
from appliance.core.config import Config
from appliance.core.events import EventStream, State, StateChanged, TurnFinished
from appliance.core.memory import release_free_memory
from appliance.engine.dialogue import Dialogue
from appliance.engine.recording import ListenSettings, Recording
from appliance.engine.voice import Voice
from appliance.engine.worker import Worker
from appliance.lessons.activities import (
    Secret,
    activity_for,
    choose_secret,
    guess_reply,
    guessed_right,
    word_budget,
)
from appliance.lessons.content import has_content, load_content
from appliance.lessons.language import box_lines
from appliance.lessons.planner import TurnPlan, TurnPlanner, planned
from appliance.lessons.policy import Decision, Piece, Problem, decide, repeats_earlier
from appliance.lessons.safety import ClassroomFilter
from appliance.lessons.text import (
    SentenceSplitter,
    ends_question,
    ends_sentence,
    word_count,
)
from appliance.lessons.vocabulary import recognition_hint, target_words
from appliance.speech.loaded import Models
from appliance.speech.protocols import Message
from appliance.speech.vad import RATE, VadStream

log = logging.getLogger(__name__)

Result = TypeVar("Result")

# Tokens kept free for the next question: about 30 s of fast speech.
ROOM_FOR_A_QUESTION = 120
# Why a reply is asked for again. Above the class's level: this is added to the student's
# words. A repeat, or speaking as the student: the same prompt is sampled warmer.
SIMPLER_PLEASE = "(Please answer with very short, simple sentences.)"
RETRY_WARMER = 0.3
# How far past its word budget a reply may run to finish the sentence it is in.
OVERRUN_WORDS = 12


@dataclass
class TurnResult:
    transcript: str
    reply: str
    timings_ms: dict[str, float]
    heard_speech: bool = True
    cancelled: bool = False
    reply_seconds: float = 0.0
    regenerated: bool = False  # the first try was above the class's level
    pieces_dropped: int = 0  # pieces left out for being above the class's level
    asked_back: bool = False  # a follow-up question was added (the model asked none)
    plan: dict[str, str] = field(default_factory=dict)  # the planner's decision, no words


@dataclass
class _Reply:
    """One turn's reply as it is made: the voice saying it, and what the engine noted."""

    voice: Voice
    transcript: str
    retry_reason: Problem | None = None  # why the model's first try failed a check
    asked_back: bool = False  # a follow-up question was added
    filtered: bool = False  # the classroom filter changed what is said
    said_as_planned: list[str] = field(default_factory=list)  # what the planner remembers


class Engine:
    """Drives turns. See the controls table in ``docs/architecture.md``."""

    def __init__(
        self,
        models: Models,
        config: Config,
        speaker: Speaker,
        microphone: Microphone | None = None,
        events: EventStream | None = None,
        seed: int | None = None,
    ) -> None:
        self.models = models
        self.config = config
        self.speaker = speaker
        self.microphone = microphone
        self.events = events or EventStream()
        self.filter = ClassroomFilter(config.filter, config.language)
        self.dialogue = Dialogue()  # the conversation as the language model sees it
        self.guesses_used = 0  # turns answered from a transcription made during a pause
        self._cancel = threading.Event()
        self._turn = 0
        self._recording: Recording | None = None
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        # The guessing game's object, chosen by code (see lessons/activities.py).
        self.secret: Secret | None = None
        # Plans each turn of a built-in activity (see lessons/planner.py); None when the
        # model writes the replies (a teacher's own activity, a language with no content).
        self.planner: TurnPlanner | None = None
        self._new_game()
        speaker.volume = config.voice.volume
        speaker.on_error = lambda error: self._state(State.ERROR, f"speaker failed: {error}")
        self._worker = Worker(self._failed)
        try:
            self._submit(self._prefill).result()
        except BaseException:
            self.close()  # a failed start leaves no worker behind
            raise
        self._state(State.IDLE, "ready")

    # --- controls: each returns at once ---

    def listen(self, end_after_silence: float | None = None) -> None:
        """Start listening; barge in on anything going on."""
        if self.microphone is None:
            raise RuntimeError("this engine has no microphone")
        self.cancel()
        with self._lock:
            self._turn += 1
            recording = Recording(VadStream(self.models.vad))
            self._recording = recording
        self.speaker.play(earcon("press", self.speaker.source_rate))
        try:
            self.microphone.open(recording.blocks.put)
        except Exception as error:
            self._recording = None
            self._state(State.ERROR, str(error))
            return
        self._state(State.LISTENING)
        settings = self._listen_settings(end_after_silence)
        threading.Thread(
            target=recording.run,
            args=(settings, self.models.stt, lambda: recording is self._recording,
                  self.finish_listening),
            name="vad",
            daemon=True,
        ).start()  # fmt: skip

    def finish_listening(self) -> None:
        """The button was released: answer what was heard."""
        with self._lock:
            recording, self._recording = self._recording, None
        if recording is None:
            return
        released_at = time.perf_counter()
        recording.end()  # what the microphone delivers after this is not heard
        self._submit(self._answer_recording, recording, released_at, self._turn)
        self.speaker.play(earcon("release", self.speaker.source_rate))
        # Stopping a sound stream waits for its last block (up to 32 ms): not on the way
        # to the answer, which is already being worked on.
        if self.microphone is not None:
            self.microphone.close()

    def cancel(self) -> None:
        """Stop the current turn; the speaker is silent within one audio block."""
        self._cancel.set()
        self.speaker.stop()
        with self._lock:
            recording, self._recording = self._recording, None
        if recording is not None:
            if self.microphone is not None:
                self.microphone.close()
            recording.end()
            recording.drop_guess()

    def reset(self) -> None:
        """Forget the conversation so far."""
        self._submit(self._forget)

    @property
    def history(self) -> list[Message]:
        """The turns remembered, as the language model sees them."""
        return self.dialogue.turns

    def prompt(self, question: str | None) -> list[Message]:
        """What the language model is given for ``question`` (None: up to the next one)."""
        return self.dialogue.messages(self.config, self.secret, question)

    @property
    def heartbeat(self) -> float:
        """When the engine's worker last went round its loop (``time.monotonic()``)."""
        return self._worker.heartbeat

    def say(self, text: str) -> Future[None]:
        """Speak ``text`` (an activity's name, the box's address...)."""
        return self._submit(self._say, text, self._turn)

    def earcon(self, name: str) -> None:
        self.speaker.play(earcon(name, self.speaker.source_rate))

    def apply_config(self, config: Config) -> None:
        """Use ``config`` from the next turn on."""
        self._submit(self._apply_config, config)

    def heard_speech(self) -> bool:
        """Whether the student has said anything yet in the turn being recorded."""
        recording = self._recording
        return recording is not None and recording.heard_speech(self.config.vad.min_speech_ms)

    @property
    def listening(self) -> bool:
        return self._recording is not None

    @property
    def state(self) -> State:
        return self.events.last_state.state

    # --- whole turns, synchronously (CLI, tests, bench) ---

    def run_turn(self, audio: np.ndarray, sample_rate: int) -> TurnResult:
        """One turn from a recording, as if the button were held around it."""
        recording = Recording(VadStream(self.models.vad))
        started = time.perf_counter()
        recording.stream.feed(resample(audio, sample_rate, RATE))
        recording.vad_seconds = time.perf_counter() - started
        recording.done.set()
        with self._lock:
            self._turn += 1
        self._cancel.clear()
        return self._submit(
            self._answer_recording, recording, time.perf_counter(), self._turn
        ).result()

    def run_text_turn(self, text: str) -> TurnResult:
        """One turn from typed text: no VAD, no STT."""
        with self._lock:
            self._turn += 1
        self._cancel.clear()
        return self._submit(self._answer_text, text, time.perf_counter(), self._turn).result()

    def run_exclusive(self, function: Callable[..., Result], *args: Any) -> Result:
        """Run ``function(*args)`` on the engine's thread, between turns, and return its result.

        For using the models directly (the bench's baseline) without racing a turn.
        """
        return self._submit(function, *args).result()

    def close(self) -> None:
        """End the current turn, the worker and the speaker: the engine owns its sound."""
        self.cancel()
        self._worker.close()
        self.speaker.close()

    # --- the worker ---

    def _submit(self, function: Callable[..., Result], *args: Any) -> Future[Result]:
        return self._worker.submit(function, *args)

    def _failed(self, error: Exception) -> None:
        self._state(State.ERROR, f"{type(error).__name__}: {error}")

    def _listen_settings(self, end_after_silence: float | None = None) -> ListenSettings:
        vad = self.config.vad
        return ListenSettings(
            vad.min_speech_ms,
            vad.pad_ms,
            self.config.stt.guess_after_pause,
            end_after_silence,
            prompt=recognition_hint(target_words(self.config)),
            incremental=self.config.stt.incremental,
        )

    def _begin_thinking(self, turn: int) -> None:
        """The start of every answer: THINKING shown, the speaker opening."""
        self._state(State.THINKING, turn=turn)
        self.speaker.prepare()

    def _answer_text(self, text: str, started_at: float, turn: int) -> TurnResult:
        self._begin_thinking(turn)
        return self._respond(text, started_at, {}, turn)

    def _answer_recording(self, recording: Recording, released_at: float, turn: int) -> TurnResult:
        self._cancel.clear()
        if not recording.done.wait(timeout=5):
            log.warning("the VAD fell behind; answering what it has seen")
        timings = {"vad": recording.vad_seconds * 1000}
        settings = self._listen_settings()
        speech = recording.speech(settings)
        if speech is None:
            return self._not_heard(timings, turn, "no speech heard")
        self._begin_thinking(turn)
        started = time.perf_counter()
        heard = recording.transcribe(self.models.stt, speech, self._cancel.is_set, settings.prompt)
        self.guesses_used += recording.guesses_used
        timings["stt"] = _ms_since(started)  # what the student waited for, guessed or not
        if heard.stopped or self._cancel.is_set():
            self._state(State.IDLE, "cancelled", turn=turn)
            return TurnResult("", "", timings, cancelled=True)
        if heard.unintelligible:
            # Whisper only looped ("no no no..."), even after a retry: ask again; nothing
            # reaches the planner or the model, and the conversation is as it was.
            log.info("the student was not understood: %s", heard.reason)
            return self._not_caught(timings, turn, len(speech) / RATE)
        if not heard.text or _is_non_speech(heard.text):
            return self._not_heard(timings, turn, "nothing recognisable was said")
        return self._respond(heard.text, released_at, timings, turn, len(speech) / RATE)

    def _not_caught(self, timings: dict[str, float], turn: int, seconds: float) -> TurnResult:
        line = box_lines(self.config.language).not_caught
        if self.filter.blocks(line):
            line = self.filter.fallback
        voice = self._voice(turn)
        voice.start()
        voice.say(line)
        voice.finish()
        self._wait_for_speaker()
        activity = self.config.activity
        box_seconds = voice.samples / self.models.tts.sample_rate
        self.events.publish(
            TurnFinished("", line, dict(timings), self._cancel.is_set(),
                         student_seconds=seconds, box_seconds=box_seconds,
                         activity=activity.name, level=activity.level)
        )  # fmt: skip
        self._state(State.IDLE, "not understood", turn=turn)
        return TurnResult("", line, timings, heard_speech=False)

    def _not_heard(self, timings: dict[str, float], turn: int, why: str) -> TurnResult:
        if not self._cancel.is_set():
            self.speaker.play(earcon("not_heard", self.speaker.source_rate))
        activity = self.config.activity
        self.events.publish(
            TurnFinished("", "", dict(timings), self._cancel.is_set(), heard=False,
                         activity=activity.name, level=activity.level)
        )  # fmt: skip
        self._state(State.IDLE, why, turn=turn)
        return TurnResult("", "", timings, heard_speech=False)

    def _respond(
        self,
        transcript: str,
        released_at: float,
        timings: dict[str, float],
        turn: int,
        student_seconds: float = 0.0,
    ) -> TurnResult:
        """LLM → pieces → TTS → speaker, overlapped. Returns when the reply has been spoken."""
        voice = self._voice(turn)
        reply = _Reply(voice, transcript)
        voice.start()
        llm_started = time.perf_counter()
        retried = apologised = False
        redirect = self.filter.redirect_for(transcript)
        plan: TurnPlan | None = None
        known = None if self.planner else guess_reply(self.secret, transcript, self.config.language)
        if redirect is not None:
            # A blocked word from the student: change the subject; the model is not asked.
            voice.say(redirect)
            reply.filtered = True
        elif self.planner is not None:
            # A built-in activity: the code plans the reply (see lessons/planner.py).
            plan = self.planner.plan(transcript)
            timings["plan"] = _ms_since(llm_started)
            self._say_plan(plan, reply)
            # The reply's first sentence is ready when the plan is: the voice starts on it.
            timings.setdefault("llm_first_sentence", _ms_since(llm_started))
        elif known is not None and not self.filter.blocks(known):
            # The guessing game's answer is a fact code knows: a tiny model says "No" to all.
            voice.say(known)
        else:
            if self._stream_reply(reply, timings, llm_started) is Decision.RETRY:
                retried = True
                reason = reply.retry_reason
                log.info("the reply's start failed a check (%s): asking again", reason)
                self._stream_reply(reply, timings, llm_started, reason=reason)
            self._ask_back(reply)
        if not voice.spoken and redirect is None and not self._cancel.is_set():
            # The model said nothing in time (a stalled server, a very busy box): say so,
            # rather than leave the student waiting in silence.
            log.warning("the language model gave no reply (%s)", self.models.llm.stop_reason)
            line = box_lines(self.config.language).no_reply
            if not self.filter.blocks(line):
                apologised = bool(voice.say(line))
        timings["llm_total"] = _ms_since(llm_started)
        voice.finish()
        self._wait_for_speaker()
        cancelled = self._cancel.is_set()
        said = " ".join(voice.spoken)
        timings.update(voice.timings(released_at))
        timings["total"] = _ms_since(released_at)
        if not cancelled and said and plan is not None and self.planner is not None:
            self.planner.commit(plan, " ".join(reply.said_as_planned))
            self.secret = self.planner.state.secret
            self.dialogue.remember(transcript, said, self.config.llm.history_turns)
        elif not cancelled and said and redirect is None and not apologised:
            if guessed_right(self.secret, transcript):
                self._new_game()  # the next question is about a new object
            else:
                self.dialogue.remember(transcript, said, self.config.llm.history_turns)
        result = TurnResult(
            transcript, said, timings, cancelled=cancelled,
            reply_seconds=voice.samples / self.models.tts.sample_rate,
            regenerated=retried, pieces_dropped=voice.dropped, asked_back=reply.asked_back,
            plan=plan.log_fields() if plan else {},
        )  # fmt: skip
        activity = self.config.activity
        self.events.publish(
            TurnFinished(
                transcript, said, dict(timings), cancelled,
                student_seconds=student_seconds, box_seconds=result.reply_seconds,
                filtered=reply.filtered, activity=activity.name, level=activity.level,
            )
        )  # fmt: skip
        self._state(State.IDLE, "cancelled" if cancelled else "", turn=turn)
        # While the box waits for the next press, evaluate the conversation so far: the next
        # turn then only evaluates its new question.
        self._prefill()
        release_free_memory()
        return result

    def _stream_reply(
        self,
        reply: _Reply,
        timings: dict[str, float],
        llm_started: float,
        reason: Problem | None = None,
    ) -> Decision:
        """Stream the model's reply to the student's words into ``reply``'s voice.

        Returns :data:`Decision.RETRY` when the first try's first piece failed a check
        (``reply.retry_reason`` then says what was wrong); otherwise what
        :meth:`_offer` last decided. ``reason`` marks the second try, nothing is
        retried again: above the level, :data:`SIMPLER_PLEASE` is added to the
        student's words; for the other problems the same prompt is sampled warmer.
        """
        config, voice, transcript = self.config, reply.voice, reply.transcript
        words_left = word_budget(activity_for(config, self.secret), config)
        question, temperature = transcript, config.llm.temperature
        if reason is Problem.ABOVE_LEVEL:
            question = f"{transcript}\n{SIMPLER_PLEASE}"
        elif reason is not None:
            # Told "say something new", the tiny model apologises ("Sorry, I didn't mean
            # that"); a warmer sample of the same prompt gives a different reply instead.
            temperature += RETRY_WARMER
        # The prefill left room for ROOM_FOR_A_QUESTION tokens, and a token is at least a
        # byte: only a longer question needs counting, off the usual path from release.
        if len(question.encode()) > ROOM_FOR_A_QUESTION:
            self.dialogue.fit(self.models.llm, config, self.secret, question)
        stream = self.models.llm.stream(
            self.prompt(question), config.reply.max_tokens, self._cancel.is_set,
            temperature=temperature, max_seconds=config.reply.max_seconds,
        )  # fmt: skip
        splitter = SentenceSplitter()
        outcome, mid_sentence = Decision.SAY, False
        # Every core until the first words go to the voice, then the voice gets one.
        llm = self.models.llm
        llm.use_threads(llm.all_threads)
        try:
            for text in stream:
                self._worker.beat()
                timings.setdefault("llm_first_token", _ms_since(llm_started))
                for piece in splitter.feed(text):
                    outcome = self._offer(piece, reply, may_retry=reason is None)
                    if outcome in (Decision.RETRY, Decision.STOP):
                        return outcome
                    if outcome is Decision.SAY:
                        timings.setdefault("llm_first_sentence", _ms_since(llm_started))
                        llm.use_threads(config.llm.threads)
                        words_left -= word_count(piece)
                        mid_sentence = not ends_sentence(piece)
                # Out of words: stop at the end of a sentence, never in the middle of one
                # (unless it runs on far past the budget).
                out_of_words = words_left <= 0 and not mid_sentence
                if out_of_words or words_left < -OVERRUN_WORDS or self._cancel.is_set():
                    break
        finally:
            stream.close()  # stop generating now, and let go of the model
            llm.use_threads(config.llm.threads)
        rest = splitter.flush()
        finished = self.models.llm.stop_reason == "stop" and (words_left > 0 or mid_sentence)
        # A sentence cut off by a limit is not spoken, unless it is all there is.
        if rest and not self._cancel.is_set() and (finished or not voice.spoken):
            outcome = self._offer(rest, reply, may_retry=reason is None)
            if outcome is Decision.SAY:
                timings.setdefault("llm_first_sentence", _ms_since(llm_started))
        if not voice.spoken and voice.dropped and reason is not None:
            voice.say(voice.first_dropped)  # failed twice: better that than silence
            timings.setdefault("llm_first_sentence", _ms_since(llm_started))
        return outcome

    def _offer(self, piece: str, reply: _Reply, may_retry: bool) -> Decision:
        """Hand one piece of the reply to the voice if the guard rails let it pass
        (:func:`appliance.lessons.policy.decide`). A blocked word before anything was
        said gets the filter's fallback line; a retry records its reason on ``reply``."""
        voice = reply.voice
        earlier = self.dialogue.replies()
        decision, problem = decide(
            Piece(
                text=piece,
                spoken=tuple(voice.spoken),
                student_words=self.dialogue.student_words(reply.transcript),
                earlier_replies=earlier,
                level=self.config.activity.level,
                language=self.config.language,
                may_retry=may_retry,
            ),
            self.filter,
        )
        if decision is Decision.STOP:
            log.info("the classroom filter stopped a reply")  # never the words themselves
            reply.filtered = True
            if not voice.spoken:
                voice.say(self.filter.fallback)
        elif decision is Decision.SAY:
            voice.say(piece)
        elif decision is Decision.RETRY:
            reply.retry_reason = problem
        else:
            voice.drop(piece)
        return decision

    def _say_plan(self, plan: TurnPlan, reply: _Reply) -> None:
        """Speak a planned reply, sentence by sentence so the voice starts on the first.

        The plan's lines are the language's data, so the teacher's blocked words are
        checked here too; a repeat request is said slowly.
        """
        fields = plan.log_fields()
        if self.config.privacy.log_transcripts:
            log.info("turn plan: %s; the student said %r", fields, plan.after.heard[-1:])
        else:
            log.info("turn plan: %s", fields)
        text = plan.text
        if self.filter.blocks(text):
            log.info("the classroom filter stopped a planned reply")
            text = self.filter.fallback
            reply.filtered = True
        # What the planner remembers as said: the reply, never the "Of course." before a replay.
        reply.said_as_planned = [plan.follow_up if plan.slow else text]
        splitter = SentenceSplitter(first_clause_words=1000)
        for piece in splitter.feed(text + "\n"):
            reply.voice.say(piece, slow=plan.slow)

    def _make_planner(self) -> TurnPlanner | None:
        """A planner for the configured activity, or None when the model writes replies."""
        config = self.config
        name, language = config.activity.name, config.language
        if name in config.custom_activities or not planned(name) or not has_content(language):
            return None
        if self._planning() == "free":
            return None
        return TurnPlanner(
            load_content(language),
            name,
            config.activity.level,
            character=config.activity.character,
            setting=config.activity.setting,
            seed=self._random.randrange(2**31),
            target_words=target_words(config),
        )

    def _planning(self) -> str:
        """``llm.planning``, with "auto" read from the model set: its language model's
        ``planning`` in the manifest ("plan" unless it says "free")."""
        if self.config.llm.planning != "auto":
            return self.config.llm.planning
        manifest = getattr(self.models.model_set, "manifest", None)
        if manifest is None or self.config.llm.backend != "local":
            return "plan"  # a model on the LAN is unknown: plan, unless told "free"
        llm = manifest.model("llm")
        return (llm.planning if llm is not None else "") or "plan"

    def _ask_back(self, reply: _Reply) -> None:
        """End with a question, in an activity that needs one, if the model did not.

        A student answers a question; without one, the exchange stalls. The tiny
        model forgets about a fifth of the time, so a short follow-up is added.
        """
        voice = reply.voice
        if not voice.spoken or ends_question(voice.spoken[-1]) or self._cancel.is_set():
            return
        if not activity_for(self.config, self.secret).ends_with_question:
            return
        questions = box_lines(self.config.language).follow_ups
        allowed = [
            q
            for q in questions
            if not self.filter.blocks(q) and not repeats_earlier(q, self.dialogue.replies())
        ]
        if allowed:
            voice.say(allowed[self._turn % len(allowed)])
            reply.asked_back = True

    def _say(self, text: str, turn: int) -> None:
        """A line of the box's own, through the same voice as a reply: a cancel stops it
        within one audio chunk (measured by ``parlo bench`` as barge-in)."""
        self._cancel.clear()
        self._state(State.SPEAKING, turn=turn)
        voice = self._voice(turn)
        voice.start()
        for piece in SentenceSplitter(first_clause_words=1000).feed(text + "\n"):
            voice.say(piece)
        voice.finish()
        self._wait_for_speaker()
        self._state(State.IDLE, turn=turn)

    def _voice(self, turn: int) -> Voice:
        return Voice(
            self.models.tts,
            self.speaker,
            cancelled=self._cancel.is_set,
            on_first_audio=lambda: self._state(State.SPEAKING, turn=turn),
            slow_rate=self.config.voice.slow_rate,
        )

    def _forget(self) -> None:
        self._new_game()
        self._prefill()

    def _wait_for_speaker(self) -> None:
        """Wait until the reply has been played, beating the heartbeat (the systemd watchdog)."""
        while not self._cancel.is_set() and not self.speaker.wait(timeout=1.0):
            self._worker.beat()

    def _prefill(self) -> None:
        """Evaluate the prompt up to the next question now, so that turn does not wait for it.

        First the oldest turns are forgotten until a question of
        :data:`ROOM_FOR_A_QUESTION` tokens and a whole reply still fit in the
        model's context, so the prompt evaluated here is a prefix of the next turn's.
        """
        if self.planner is not None:
            return  # the planner writes the replies: no conversation prompt to evaluate
        self.dialogue.fit(self.models.llm, self.config, self.secret, "x " * ROOM_FOR_A_QUESTION)
        self.models.llm.prefill(self.prompt(None))

    def _new_game(self) -> None:
        """Start the conversation afresh; in the guessing game, with a new object."""
        self.dialogue.clear()
        self.planner = self._make_planner()
        if self.planner is not None:
            self.secret = self.planner.state.secret
            return
        activity = activity_for(self.config)
        level = self.config.activity.level
        self.secret = choose_secret(activity, level, self._random, previous=self.secret)

    def _apply_config(self, config: Config) -> None:
        # The models first: if they cannot follow (a voice that fails to load...), the
        # engine keeps the whole config in use, not half of the new one.
        self.models.reconfigure(self.config, config)
        previous, self.config = self.config, config
        self.filter = ClassroomFilter(config.filter, config.language)
        self.speaker.volume = config.voice.volume
        # Devices chosen on the page: the microphone opens on its device at each press,
        # the speaker on its next sound.
        self.speaker.use_device(config.audio.output_device)
        if self.microphone is not None:
            self.microphone.device_name = config.audio.input_device
        if _conversation_settings(previous) != _conversation_settings(config):
            self._new_game()  # a new activity, language or model is a new conversation
        elif self.planner is not None:
            self.planner.target_words = target_words(config)  # the lesson's words, from now
        self._prefill()  # evaluate the prompt (which names the level, language...) now

    def _state(self, state: State, detail: str = "", turn: int | None = None) -> None:
        if turn is not None and turn != self._turn:
            return  # an old turn winding down must not override a new one
        if state == self.events.last_state.state and state != State.ERROR:
            return
        self.events.publish(StateChanged(state, detail))


def _conversation_settings(config: Config) -> tuple[object, ...]:
    """What, when changed, makes a new conversation: the activity, the language, the model."""
    llm = config.llm
    return (config.activity, config.custom_activities, config.language,
            llm.backend, llm.base_url, llm.model)  # fmt: skip


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _is_non_speech(transcript: str) -> bool:
    """Whisper's way of saying it heard no words: "[BLANK_AUDIO]", "(music)", "..."."""
    cleaned = transcript.strip(" .!?,-♪*")
    return not cleaned or (cleaned[0] in "[(" and cleaned[-1] in "])")
