"""The plan's reports as documents: a plan-reporting case's quarterly or consolidated half-year report
as Word or Excel, in Russian or Kazakh (app/reports). Readable by whoever may read the case."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.reports import plan_document

from ..errors import responses
from ..query_check import QueryCheckedRoute
from ._shared import Caller, Engine, Ref, Store

router = APIRouter(route_class=QueryCheckedRoute, tags=["reports"])

Lang = Annotated[Literal["ru", "kk"], Query(description="The document's language: ru or kk.", examples=["kk"])]
_DOCUMENT = {"description": "The document, as an attachment.", "content": {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}


async def _download(store, engine, principal, ref: str, fmt: str, lang: str) -> Response:
    document = await store.read(lambda: plan_document(engine, principal, ref, fmt, lang))
    return Response(document.content, media_type=document.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{document.filename}"',
                             "Cache-Control": "no-store"})


@router.get("/cases/{ref}/report.docx", response_class=Response, responses={200: _DOCUMENT, **responses(401, 403, 404, 422)},
            summary="A plan report as a Word document")
async def report_docx(ref: Ref, principal: Caller, engine: Engine, store: Store, lang: Lang = "ru") -> Response:
    """The executor's quarterly report or МП's consolidated half-year report of a plan-reporting case:
    the plan's title, the executor, the period, the measures reported with status and note, the
    executors still missing (half-year), the period's case statistics per region. 422 naming `case`
    for a case of another algorithm."""
    return await _download(store, engine, principal, ref, "docx", lang)


@router.get("/cases/{ref}/report.xlsx", response_class=Response, responses={200: _DOCUMENT, **responses(401, 403, 404, 422)},
            summary="A plan report as an Excel workbook")
async def report_xlsx(ref: Ref, principal: Caller, engine: Engine, store: Store, lang: Lang = "ru") -> Response:
    """The report of `report.docx` as a workbook: sheets of the measures, the statistics per region and
    (half-year) the missing executors."""
    return await _download(store, engine, principal, ref, "xlsx", lang)
