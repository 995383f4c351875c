"""``toolproxy tools serve``: a module's tools as a FastAPI app, one ``POST /tools/NAME`` operation each.

The request body is the tool's arguments object (its pydantic model, so the OpenAPI document carries the
same JSON Schema the agent would build locally); the response is the tool's return value as JSON. A tool
that raises answers HTTP 500 with ``{"error": "..."}``. ``operationId`` is the tool name, which is what the
agent's URL form turns back into tool names.
"""

from __future__ import annotations

import inspect
from typing import Any

import pydantic
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from toolproxy.agent.tools import Tool, tool_from_function


def tools_app(functions: list[Any], *, title: str = "toolproxy tools") -> FastAPI:
    """FastAPI app exposing the given type-annotated functions (see ``tools_from_module`` for which)."""
    app = FastAPI(title=title, version="1.0.0")
    for fn in functions:
        add_operation(app, fn, tool_from_function(fn))

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def add_operation(app: FastAPI, fn: Any, tool: Tool) -> None:
    model = tool.args_model
    if model is None:  # only module tools are served, and they always carry their model
        return
    is_async = inspect.iscoroutinefunction(fn)
    names = list(model.model_fields)

    async def endpoint(arguments: pydantic.BaseModel) -> Any:
        kwargs = {name: getattr(arguments, name) for name in names}
        try:
            if is_async:
                result = await fn(**kwargs)
            else:
                result = await run_in_threadpool(fn, **kwargs)
        except Exception as exc:  # reported to the caller, like any tool failure
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)
        return result

    param = inspect.Parameter("arguments", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model)
    endpoint.__signature__ = inspect.Signature([param])  # type: ignore[attr-defined]
    endpoint.__name__ = tool.name
    app.post(f"/tools/{tool.name}", operation_id=tool.name, summary=tool.description.split("\n")[0],
             description=tool.description)(endpoint)
