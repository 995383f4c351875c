"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: a thin adapter over the chat pipeline."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from toolproxy.api.answer import answer, renamed_params
from toolproxy.api.deps import current_service
from toolproxy.api.messages.builder import MessageBuilder
from toolproxy.api.messages.convert import to_chat_request
from toolproxy.api.messages.models import CountTokensRequest, MessagesRequest
from toolproxy.api.streaming import run, sse

router = APIRouter()
RENAMES = (  # the chat pipeline's field names in errors -> the Messages API's
    (r"^tools\[(\d+)\]\.function\.parameters", r"tools[\1].input_schema"),
    (r"^stop", "stop_sequences"),
    (r"^continue_final_message", "messages"),  # a prefill (a last assistant message) the answer cannot continue
)


@router.post("/v1/messages", response_model=None)
async def create_message(body: MessagesRequest, request: Request) -> Response:
    service = current_service(request)
    builder = MessageBuilder(model=body.model or service.model_id)
    events = await answer(service, to_chat_request(body), RENAMES)  # a bad request is refused here
    if body.stream:
        return sse(builder, events)
    await run(builder, events)
    return JSONResponse(builder.message())


@router.post("/v1/messages/count_tokens", response_model=None)
async def count_tokens(body: CountTokensRequest, request: Request) -> Response:
    """The prompt the request would be rendered to, counted by the model's tokenizer (a backend that cannot
    count cheaply gets an estimate of one token per four characters)."""
    service = current_service(request)
    with renamed_params(RENAMES):
        prompt = service.plan(to_chat_request(body)).generation.prompt
    counted = service.backend.count_tokens(prompt)
    return JSONResponse({"input_tokens": counted if counted is not None else max(1, len(prompt) // 4)})
