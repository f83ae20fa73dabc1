"""What a service call awaits to learn that the client went away: the request's ASGI ``receive``,
read only while awaited, as often as it is awaited."""

from __future__ import annotations

import asyncio

from starlette.types import Message

from app.http.answers import Disconnected


def test_disconnected_reads_receive_only_while_awaited_and_again_each_time() -> None:
    messages = [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
        {"type": "http.disconnect"},
    ]
    read: list[str] = []

    async def receive() -> Message:
        message = messages.pop(0)
        read.append(message["type"])
        return message

    async def test() -> None:
        gone = Disconnected(receive)
        await asyncio.sleep(0)
        assert read == []  # made, never awaited: nothing read
        await gone
        assert read == ["http.request", "http.disconnect"]
        await asyncio.ensure_future(gone)  # as the pool awaits it: in a task of its own
        assert read == ["http.request", "http.disconnect", "http.disconnect"]

    asyncio.run(test())
