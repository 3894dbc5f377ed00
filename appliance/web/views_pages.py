"""The Status, Settings and Tools pages.

Every POST handler starts with :func:`read_form` (CSRF check) and ends with a
redirect (post/redirect/get), so reloading a page never repeats an action.
Messages after a redirect come from fixed texts picked by a query word
(``?done=saved``), never from text in the URL.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from appliance.core.config import Config, ConfigError
from appliance.web import forms, health
from appliance.web.webapp import WebApp, first, read_form, web_of

DONE_MESSAGES = {
    "saved": "Saved. The box uses the new settings from the next turn.",
    "activity-saved": "Your activity is saved. Pick it under Activity to use it.",
    "activity-deleted": "The activity was deleted.",
    "said": "The box is speaking the sentence now.",
    "reset": "The conversation was reset. The box has forgotten what was said.",
    "password": "Password changed. Any other device that was logged in has been logged out.",
}
OFF_STANDALONE = "Needs the running box: this page is running on its own (parlo web)."
OFF_NO_ENGINE = "The conversation engine is not running (are models installed? See Models)."
TEST_SENTENCE = "Hello! I am Parlo. If you can hear me clearly, the speaker works."
MAX_SAY = 200


async def status_page(request: Request) -> Response:
    web = web_of(request)
    config, problem = web.load_config()
    report = await run_in_threadpool(
        health.gather, web.context.config_path.parent, web.started_at, web.context.health
    )
    return web.render(
        request,
        "status.html",
        title="Status",
        turn=web.context.events.last_turn,
        config=config,
        config_problem=problem,
        activity_label=dict(forms.field_choices("activity.name", config, [], [])).get(
            config.activity.name, config.activity.name
        ),
        health=report,
        models=await run_in_threadpool(web.models.view),
    )


async def settings_page(request: Request) -> Response:
    web = web_of(request)
    config, problem = web.load_config()
    return await _render_settings(request, web, config, problem)


async def save_settings(request: Request) -> Response:
    web = web_of(request)
    form = await read_form(request)

    def validate_and_save() -> tuple[forms.SettingsResult, Config]:
        with web.config_lock:
            base, problem = web.load_config()
            if problem:
                return forms.SettingsResult(None, {forms.FORM_ERROR: problem}, {}), base
            result = forms.parse_settings(base, form)
            if result.config is not None:
                web.save_config(result.config)
            return result, base

    result, base = await run_in_threadpool(validate_and_save)
    if result.config is not None:
        return RedirectResponse("/settings?done=saved", status_code=303)
    return await _render_settings(
        request, web, base, None, errors=result.errors, typed=result.typed, status_code=400
    )


async def save_custom_activity(request: Request) -> Response:
    web = web_of(request)
    form = await read_form(request)

    def validate_and_save() -> forms.CustomActivityResult:
        with web.config_lock:
            base, problem = web.load_config()
            if problem:
                return forms.CustomActivityResult(None, {"name": problem}, {})
            result = forms.parse_custom_activity(base, form)
            if result.config is not None:
                web.save_config(result.config)
            return result

    result = await run_in_threadpool(validate_and_save)
    if result.config is not None:
        return RedirectResponse("/settings?done=activity-saved#own", status_code=303)
    config, problem = web.load_config()
    return await _render_settings(
        request,
        web,
        config,
        problem,
        activity_errors=result.errors,
        activity_typed=result.typed,
        status_code=400,
    )


async def delete_custom_activity(request: Request) -> Response:
    web = web_of(request)
    form = await read_form(request)
    name = first(form, "name")

    def delete() -> str | None:
        with web.config_lock:
            base, problem = web.load_config()
            if problem:
                return problem
            try:
                web.save_config(forms.remove_custom_activity(base, name))
            except ConfigError as error:
                return error.message
            return None

    if (problem := await run_in_threadpool(delete)) is not None:
        raise HTTPException(400, problem[:300])
    return RedirectResponse("/settings?done=activity-deleted#own", status_code=303)


async def _render_settings(
    request: Request,
    web: WebApp,
    config: Config,
    problem: str | None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    activity_errors: dict[str, str] | None = None,
    activity_typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    devices = None
    if web.context.list_sound_devices is not None:
        try:
            devices = await run_in_threadpool(web.context.list_sound_devices)
        except Exception:
            devices = None
    voices = await run_in_threadpool(web.models.voices)
    values = forms.display_values(config) | (typed or {})
    choices = {
        field.key: forms.field_choices(field.key, config, voices, devices)
        for field in forms.SETTINGS_FIELDS
        if field.kind == "select"
    }
    return web.render(
        request,
        "settings.html",
        status_code,
        title="Settings",
        fields=forms.FIELDS_BY_KEY,
        values=values,
        choices=choices,
        errors=errors or {},
        form_error=(errors or {}).get(forms.FORM_ERROR) or problem,
        devices_known=devices is not None,
        config=config,
        activity_errors=activity_errors or {},
        activity_typed=activity_typed or {"max_words": "30"},
        done=DONE_MESSAGES.get(request.query_params.get("done", "")),
    )


async def tools_page(
    request: Request, password_errors: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    web = web_of(request)
    return web.render(
        request,
        "tools.html",
        status_code,
        title="Tools",
        test_sentence=TEST_SENTENCE,
        log_lines=web.log_ring.lines() if web.log_ring else [],
        password_errors=password_errors or {},
        can_say=web.context.say is not None,
        can_reset=web.context.reset_conversation is not None,
        off_reason=OFF_STANDALONE if web.context.standalone else OFF_NO_ENGINE,
        done=DONE_MESSAGES.get(request.query_params.get("done", "")),
    )


async def say(request: Request) -> Response:
    web = web_of(request)
    form = await read_form(request)
    text = " ".join(first(form, "text", TEST_SENTENCE).split())[:MAX_SAY] or TEST_SENTENCE
    if web.context.say is None:
        raise HTTPException(409, OFF_STANDALONE if web.context.standalone else OFF_NO_ENGINE)
    await run_in_threadpool(web.context.say, text)
    return RedirectResponse("/tools?done=said", status_code=303)


async def reset_conversation(request: Request) -> Response:
    web = web_of(request)
    await read_form(request)
    if web.context.reset_conversation is None:
        raise HTTPException(409, OFF_STANDALONE if web.context.standalone else OFF_NO_ENGINE)
    await run_in_threadpool(web.context.reset_conversation)
    return RedirectResponse("/tools?done=reset", status_code=303)
