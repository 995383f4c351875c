"""``POST /v1/responses``, ``GET`` / ``DELETE /v1/responses/{id}``, ``GET /v1/responses/{id}/input_items``: a thin
adapter over the chat pipeline."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from toolproxy.api.answer import Collected, answer
from toolproxy.api.deps import current_service
from toolproxy.api.responses.builder import ResponseBuilder
from toolproxy.api.responses.convert import (
    answer_messages,
    conversation_of,
    input_items_wire,
    resolve_references,
    to_chat_request,
)
from toolproxy.api.responses.models import ItemReference, ResponsesRequest
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
    history_items: list[dict[str, Any]] = []
    if body.previous_response_id is not None:
        stored = await asyncio.to_thread(store.get, body.previous_response_id)
        if stored is None:
            raise InvalidRequest(f"previous response {body.previous_response_id!r} not found (never stored, "
                                 "deleted or expired)", param="previous_response_id",
                                 code="previous_response_not_found")
        history = stored.conversation
        history_items = stored.input_items + list(stored.response.get("output") or [])
    items = body.input
    if any(isinstance(item, ItemReference) for item in items):
        items = await asyncio.to_thread(resolve_references, items, store.item)
    conversation = history + conversation_of(items)
    context_items = history_items + input_items_wire(items)
    builder = ResponseBuilder(body, model=body.model or service.model_id)
    events = await answer(service, to_chat_request(body, conversation), RENAMES)  # a bad request is refused here

    async def save(collected: Collected) -> None:
        if body.store and builder.status != "failed":
            await asyncio.to_thread(store.put, builder.id, builder.response(),
                                    conversation + answer_messages(collected.blocks), context_items)

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


_MAX_LIMIT = 100
_LIST_INCLUDES = ("message.input_image.image_url", "reasoning.encrypted_content")  # nothing to add here


@router.get("/v1/responses/{response_id}/input_items", response_model=None)
async def list_input_items(  # the query as text, checked here: a bad value is a 400 naming it
    response_id: str, request: Request, limit: str = "20", order: str = "desc", after: str | None = None,
    include: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The items the response answered (its whole context: a previous response's items, then its input), in
    ``order`` (``desc``: newest first, the default), ``limit`` at a time (1-100, default 20), ``after`` an id."""
    if not limit.isdigit() or not 1 <= int(limit) <= _MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer from 1 to {_MAX_LIMIT}, not {limit!r}", param="limit")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"order must be 'asc' or 'desc', not {order!r}", param="order")
    for value in (include or []) + request.query_params.getlist("include[]"):
        if value not in _LIST_INCLUDES:
            raise InvalidRequest(f"include value {value!r} is not supported by toolproxy", param="include")
    stored = await asyncio.to_thread(_store(request).get, response_id)
    if stored is None:
        raise NotFound(f"response {response_id!r} not found (never stored, deleted or expired)",
                       param="response_id")
    items = stored.input_items if order == "asc" else stored.input_items[::-1]
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequest(f"after: item {after!r} is not an input item of {response_id!r}", param="after")
        items = items[ids.index(after) + 1:]
    page = items[:int(limit)]
    return JSONResponse({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                         "last_id": page[-1]["id"] if page else None, "has_more": len(items) > len(page)})
