"""The HTTP floor of ``bench_service.py``: a bare ASGI app that reads the request body and answers
a fixed JSON body, served by the same uvicorn as the service. What a lean client measures against
it is uvicorn, the loopback and the client alone; the service's overhead above the library splits
into this floor and the app's own work (validation, auth, the durable commit, encoding).

Run by bench_service.py: ``uvicorn http_floor:app`` from this folder, the answer's size in
``FLOOR_ANSWER_BYTES`` (a real /v1/route answer's)."""

from __future__ import annotations

import os

_SIZE = max(int(os.environ.get("FLOOR_ANSWER_BYTES", "1500")), 8)
ANSWER = b'{"x":"' + b"a" * (_SIZE - 8) + b'"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode()),
           (b"x-request-id", b"0123456789abcdef")]


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
