"""``POST /v1/responses``, ``GET`` / ``DELETE /v1/responses/{id}``: a thin adapter over the chat pipeline."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from toolproxy.api.answer import Collected, answer
from toolproxy.api.deps import current_service
from toolproxy.api.responses.builder import ResponseBuilder
from toolproxy.api.responses.convert import answer_messages, conversation_of, to_chat_request
from toolproxy.api.responses.models import ResponsesRequest
from toolproxy.api.responses.store import ResponseStore
from toolproxy.api.streaming import run, sse
from toolproxy.errors import InvalidRequest, NotFound

router = APIRouter()
RENAMES = (  # the chat pipeline's field names in errors -> the Responses API's
    (r"^tools\[(\d+)\]\.function\.parameters", r"tools[\1].parameters"),
    (r"^response_format\.json_schema\.schema", "text.format.schema"),
    (r"^response_format", "text.format"),
    (r"^max_tokens", "max_output_tokens"),
    (r"^messages(\[\d+\])?", "input"),
)


def _store(request: Request) -> ResponseStore:
    store: ResponseStore = request.app.state.response_store
    return store


@router.post("/v1/responses", response_model=None)
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    service = current_service(request)
    store = _store(request)
    history: list[dict[str, Any]] = []
    if body.previous_response_id is not None:
        stored = await asyncio.to_thread(store.get, body.previous_response_id)
        if stored is None:
            raise InvalidRequest(f"previous response {body.previous_response_id!r} not found (never stored, "
                                 "deleted or expired)", param="previous_response_id",
                                 code="previous_response_not_found")
        history = stored.conversation
    conversation = history + conversation_of(body.input)
    builder = ResponseBuilder(body, model=body.model or service.model_id)
    events = await answer(service, to_chat_request(body, conversation), RENAMES)  # a bad request is refused here

    async def save(collected: Collected) -> None:
        if body.store and builder.status != "failed":
            await asyncio.to_thread(store.put, builder.id, builder.response(),
                                    conversation + answer_messages(collected.blocks))

    if body.stream:
        return sse(builder, events, save)
    await save(await run(builder, events))
    return JSONResponse(builder.response())


@router.get("/v1/responses/{response_id}", response_model=None)
async def get_response(response_id: str, request: Request) -> Response:
    stored = await asyncio.to_thread(_store(request).get, response_id)
    if stored is None:
        raise NotFound(f"response {response_id!r} not found (never stored, deleted or expired)",
                       param="response_id")
    return JSONResponse(stored.response)


@router.delete("/v1/responses/{response_id}", response_model=None)
async def delete_response(response_id: str, request: Request) -> Response:
    if not await asyncio.to_thread(_store(request).delete, response_id):
        raise NotFound(f"response {response_id!r} not found (never stored, deleted or expired)",
                       param="response_id")
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})
