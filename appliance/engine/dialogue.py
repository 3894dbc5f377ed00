"""The conversation as a language model sees it, when the model writes the replies.

For a teacher's own activity, or a language with no lesson content, the reply is
the model's. :class:`Dialogue` keeps what it needs: the turns remembered (the last
``llm.history_turns``), the prompt built from the activity (its system prompt and
examples, then the turns, then the new question), and the fitting of that prompt
into the model's context, oldest turns forgotten first.

The planner keeps its own state; with it, the dialogue only remembers the turns.
"""

from __future__ import annotations

from appliance.core.config import Config
from appliance.lessons.activities import Secret, activity_for, system_prompt
from appliance.speech.protocols import LanguageModel, Message


class Dialogue:
    """The turns so far, and the prompt for the next."""

    def __init__(self) -> None:
        self.turns: list[Message] = []  # user, assistant, user, assistant...

    def clear(self) -> None:
        self.turns.clear()

    def remember(self, transcript: str, reply: str, keep_turns: int) -> None:
        """Add one exchange, keeping the last ``keep_turns`` exchanges (0: none)."""
        self.turns += [{"role": "user", "content": transcript},
                       {"role": "assistant", "content": reply}]  # fmt: skip
        keep = 2 * keep_turns
        self.turns = self.turns[-keep:] if keep else []

    def replies(self) -> tuple[str, ...]:
        """What the box said, oldest first."""
        return tuple(m["content"] for m in self.turns if m["role"] == "assistant")

    def student_words(self, transcript: str) -> str:
        """Everything the student said in this conversation, ``transcript`` included."""
        said = [m["content"] for m in self.turns if m["role"] == "user"]
        return " ".join([*said, transcript])

    def messages(
        self, config: Config, secret: Secret | None, question: str | None
    ) -> list[Message]:
        """The prompt: the activity's system prompt and examples, the turns, ``question``."""
        activity = activity_for(config, secret)
        messages: list[Message] = [{"role": "system", "content": system_prompt(activity, config)}]
        for asked, answered in activity.examples:
            messages += [{"role": "user", "content": asked},
                         {"role": "assistant", "content": answered}]  # fmt: skip
        messages += self.turns
        if question is not None:
            messages.append({"role": "user", "content": question})
        return messages

    def fit(self, llm: LanguageModel, config: Config, secret: Secret | None, question: str) -> None:
        """Forget the oldest turns until ``question`` and a reply fit in the model's context."""
        # With a server on the LAN these are the box's own model's: it answers when the
        # server can't. A model that fits its own context says 0.
        if not llm.context_tokens:
            return
        room = llm.context_tokens - config.reply.max_tokens
        while self.turns and llm.count_tokens(self.messages(config, secret, question)) > room:
            del self.turns[:2]
