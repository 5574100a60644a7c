"""The API's interactive documentation, Swagger UI at `/api/v1/docs` and ReDoc at `/api/v1/redoc`,
served from Qorgau's own copies (app/api/static/, vendored from the npm registry, see its README)
under the same Content-Security-Policy as every response: nothing is loaded from another host."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"

_SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Qorgau API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head><body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/docs.js"></script>
</body></html>
"""

_REDOC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Qorgau API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
</head><body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body></html>
"""


def install(app: FastAPI, prefix: str) -> None:
    """Serve the documentation pages and their assets under `prefix` (e.g. /api/v1)."""
    assets, openapi = f"{prefix}/static", app.openapi_url
    app.mount(assets, StaticFiles(directory=str(STATIC_DIR)), name="api-static")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_SWAGGER.format(assets=assets, openapi=openapi))

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC.format(assets=assets, openapi=openapi))
