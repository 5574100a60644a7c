"""Until the web pages take the app's store (`app.store`, `request.app.state.store`) themselves:
`run_write` as they call it. The API's handlers use the store directly."""
from __future__ import annotations

from typing import Any, Callable


async def run_write(request, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """`await request.app.state.store.write(fn, *args, **kwargs)`."""
    return await request.app.state.store.write(fn, *args, **kwargs)
