"""HTTP front doors beside chat completions: the OpenAI Responses API and the Anthropic Messages API.

Each is a thin adapter: its request becomes the one internal :class:`~toolproxy.protocol.ChatCompletionRequest`
the :class:`~toolproxy.service.ChatService` takes, and the service's answer (regrouped into blocks by
:mod:`toolproxy.api.answer`) becomes its response or its stream. Errors are rendered by the app's one handler,
in the shape :mod:`toolproxy.api.errors` picks for the route. :func:`toolproxy.api.mount.install_apis` mounts
the routes (this package itself imports nothing, so the HTTP-only modules beside it can use ``api.errors``).
"""

