"""Live state for the page: the engine's events as Server-Sent Events.

The :class:`EventStream` calls subscribers on the engine's thread, and they
must be quick. So the subscriber here only hands each event to the event
loop (``call_soon_threadsafe``) and into a small queue; a browser that stops
reading loses old events, never slows the engine.

Two event types go out, as JSON::

    event: state   data: {"state": "listening", "label": "Listening", "detail": ""}
    event: turn    data: {"transcript": "...", "reply": "...", "cancelled": false, "at": 1.7e9}

The stream ends when the session ends (logout, expiry, new password) or the
server stops; the session is checked before every event, so nothing is sent
after a logout. A session may hold at most :data:`STREAMS_PER_SESSION` streams
(429 beyond): each one holds a connection and a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from appliance.core.events import Event, StateChanged, TurnFinished
from appliance.web.security import SESSION_COOKIE
from appliance.web.webapp import STATE_LABELS, web_of

QUEUE_SIZE = 64
HEARTBEAT_SECONDS = 15.0
CHECK_SECONDS = 1.0  # how often a quiet stream looks at its session and the server
STREAMS_PER_SESSION = 4  # a phone and a laptop, each with a tab or two


def state_payload(event: StateChanged) -> dict:
    return {
        "state": str(event.state),
        "label": STATE_LABELS.get(event.state),
        "detail": event.detail,
    }


def turn_payload(event: TurnFinished) -> dict:
    return {
        "transcript": event.transcript,
        "reply": event.reply,
        "cancelled": event.cancelled,
        "heard": event.heard,
        "at": event.at,
    }


def format_event(event: Event) -> str:
    if isinstance(event, StateChanged):
        name, payload = "state", state_payload(event)
    else:
        name, payload = "turn", turn_payload(event)
    # json.dumps keeps everything on one line, as SSE needs; the page sets it as text.
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n"


async def event_stream(request: Request) -> Response:
    web = web_of(request)
    events = web.context.events
    token = request.cookies.get(SESSION_COOKIE) or ""
    loop = asyncio.get_running_loop()
    with web.streams_lock:
        if web.streams[token] >= STREAMS_PER_SESSION:
            return PlainTextResponse(
                f"At most {STREAMS_PER_SESSION} live pages per login; close one.", status_code=429
            )
        web.streams[token] += 1
    released = False

    def release() -> None:
        nonlocal released
        with web.streams_lock:
            if not released:
                released = True
                web.streams[token] -= 1
                if web.streams[token] <= 0:
                    del web.streams[token]

    queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)

    def offer(event: Event) -> None:
        if queue.full():  # a stalled browser: drop the oldest, keep the newest
            queue.get_nowait()
        queue.put_nowait(event)

    def deliver(event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server stopped
            loop.call_soon_threadsafe(offer, event)

    async def stream() -> AsyncIterator[str]:
        unsubscribe = events.subscribe(deliver)
        try:
            yield "retry: 3000\n\n"
            yield format_event(events.last_state)
            if events.last_turn is not None:
                yield format_event(events.last_turn)
            quiet = 0.0
            while not web.stopping.is_set():
                try:
                    event = await asyncio.wait_for(queue.get(), CHECK_SECONDS)
                except TimeoutError:
                    if web.sessions.get(token) is None:
                        return
                    quiet += CHECK_SECONDS
                    if quiet >= HEARTBEAT_SECONDS:
                        quiet = 0.0
                        yield ": still here\n\n"
                    continue
                if web.sessions.get(token) is None:
                    return  # logged out meanwhile: not one more transcript
                quiet = 0.0
                yield format_event(event)
        finally:
            unsubscribe()
            release()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"x-accel-buffering": "no"},
        background=BackgroundTask(release),
    )
