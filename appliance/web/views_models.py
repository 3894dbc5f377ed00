"""The Models page: what is installed, switching, rolling back, uploading a pack."""

from __future__ import annotations

import secrets
import shutil

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from appliance.web.uploads import receive_pack
from appliance.web.webapp import first, read_form, session_of, web_of

UPLOAD_PATH = "/models/upload"
UPLOAD_LIMIT = 4 * 1024**3  # a pack with a 1.5 GB language model, and room to spare
DONE_MESSAGES = {
    "switched": "Switched. The box loads these models before its next turn.",
    "rolled-back": "Rolled back to the models used before.",
}


async def models_page(request: Request) -> Response:
    web = web_of(request)
    job = web.models.job
    return web.render(
        request,
        "models.html",
        title="Models",
        models=await run_in_threadpool(web.models.view),
        job=job.as_dict() if job else None,
        done=DONE_MESSAGES.get(request.query_params.get("done", "")),
    )


async def switch(request: Request) -> Response:
    web = web_of(request)
    key = first(await read_form(request), "set")
    try:
        await run_in_threadpool(web.models.switch, key)
    except (LookupError, RuntimeError) as error:
        raise HTTPException(400, str(error)) from None
    return RedirectResponse("/models?done=switched", status_code=303)


async def rollback(request: Request) -> Response:
    web = web_of(request)
    await read_form(request)
    try:
        await run_in_threadpool(web.models.rollback)
    except RuntimeError as error:  # StoreError is one: no previous set, or the store is busy
        raise HTTPException(409, str(error)) from None
    return RedirectResponse("/models?done=rolled-back", status_code=303)


async def upload(request: Request) -> Response:
    """Receive a pack, then import it on a thread; the page follows the job's progress."""
    web = web_of(request)
    try:
        job = web.models.begin_import()
    except RuntimeError as error:
        raise HTTPException(409, str(error)) from None
    uploads = web.models.root.parent / "uploads"
    target = uploads / secrets.token_hex(8)
    target.mkdir(parents=True)
    try:
        await receive_pack(request, session_of(request), target, job)
    except BaseException as error:
        shutil.rmtree(target, ignore_errors=True)
        if isinstance(error, HTTPException) and error.status_code == 403:
            web.models.abandon(job)  # a forged request leaves no trace on the page
        else:
            job.error, job.finished = _reason(error), True
        raise
    config, _ = web.load_config()
    web.models.run_import(job, target, config.models.allow_unsigned)
    if request.headers.get("x-parlo-upload") == "1":
        return JSONResponse(job.as_dict())
    return RedirectResponse("/models", status_code=303)


async def progress(request: Request) -> Response:
    job = web_of(request).models.job
    return JSONResponse(job.as_dict() if job else None)


def _reason(error: BaseException) -> str:
    if isinstance(error, HTTPException):
        return str(error.detail)
    return "the upload stopped before the whole pack arrived"
