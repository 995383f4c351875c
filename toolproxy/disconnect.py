"""Stop the work of a request whose client has gone, streaming or not.

uvicorn does not cancel a handler when its client disconnects; for a non-streaming chat completion the model
would go on generating for nobody (and the embedded model serves one request at a time). This pure ASGI
middleware runs the app in a child task (the context, so the request id, is copied), watches the connection
once the app has read the body, and cancels the app when the client is gone before the response is complete:
the service's ``finally`` blocks then close the backend generation. The app itself sees ``http.disconnect``
from ``receive`` as usual (sse-starlette listens for it).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("toolproxy.disconnect")


class CancelOnDisconnect:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_read = asyncio.Event()
        gone = asyncio.Event()
        finished = False

        async def app_receive() -> Message:
            if not body_read.is_set():
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    body_read.set()
                return message
            await gone.wait()
            return {"type": "http.disconnect"}

        async def app_send(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        async def watch() -> None:
            await body_read.wait()
            while not gone.is_set():
                if (await receive())["type"] == "http.disconnect":
                    gone.set()

        async def run_app() -> None:
            await self.app(scope, app_receive, app_send)

        watcher = asyncio.create_task(watch())
        left = asyncio.create_task(gone.wait())
        work = asyncio.create_task(run_app())
        try:
            await asyncio.wait({work, left}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done() and not finished:
                log.info("client gone before the response was complete: request cancelled")
                work.cancel()
            try:
                await work  # its exception, if any, goes up as usual
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if me is not None and me.cancelling():
                    raise  # we are cancelled ourselves (shutdown), not just the work we stopped
        finally:
            for task in (watcher, left, work):
                task.cancel()
            await asyncio.gather(watcher, left, work, return_exceptions=True)
