"""Errors as the API answers them: `{"code", "message", "field"?}` with a fitting HTTP status.

Spec codes: unknown_case 404, unknown_trigger 422 (the trigger named in the request body does not
exist: bad input, not a missing resource), invalid_transition 409, conflict 409, forbidden 403,
invalid_data 422 (names the field), guard_failed 409 (the case's current state does not meet the
condition). Transport codes: unauthenticated 401, not_found 404 (no such route),
method_not_allowed 405, erased 410 and no_personal_data 404 (personal data), and
personal_data_unavailable 503 (the master key is missing or wrong: an operator must act).
FastAPI's own request validation errors are reshaped to `invalid_data` naming the field.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from states.errors import RuleViolation
from states.personal_data import PersonalDataError
from states.tokens import TokenError

from .models import ErrorBody

log = logging.getLogger("qorgau.api")

# The one table from an error's code to its HTTP status, for the API and the pages alike.
STATUS = {
    "unknown_case": 404, "unknown_trigger": 422, "invalid_transition": 409, "conflict": 409, "forbidden": 403,
    "invalid_data": 422, "guard_failed": 409, "not_migratable": 409,  # the spec's codes
    "unauthenticated": 401, "not_found": 404, "method_not_allowed": 405, "too_large": 413,
    "erased": 410, "no_personal_data": 404, "personal_data_unavailable": 503,
}
HTTP_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              413: "too_large", 422: "invalid_data"}
PERSONAL_CODES = {"erased": "erased", "unknown_subject": "no_personal_data"}  # the store's codes, as answered


def status_of(code: str) -> int:
    """The HTTP status an error of this code is answered with."""
    return STATUS[code]

_DESCRIPTIONS = {
    401: "No token, an unknown one or a revoked one (`unauthenticated`).",
    403: "The token's role or body may not do this (`forbidden`).",
    404: "No such case (`unknown_case`).",
    409: "`conflict` (the case moved since the version read), `invalid_transition`, `guard_failed` or "
         "`not_migratable`.",
    410: "The child's personal data was erased (`erased`).",
    422: "`invalid_data` (names the field) or `unknown_trigger`.",
    503: "Personal data cannot be decrypted: the master key is missing or wrong.",
}


class ApiError(Exception):
    """An error of the HTTP edge itself (authentication); its status comes from its code."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field

    @property
    def status(self) -> int:
        return status_of(self.code)


def responses(*statuses: int) -> dict:
    """OpenAPI `responses` for the listed error statuses, all with the one error body."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def _body(code: str, message: str, field: str | None = None) -> dict:
    out = {"code": code, "message": message}
    if field:
        out["field"] = field
    return out


def _field(loc) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _rule(request: Request, exc: RuleViolation) -> JSONResponse:
    return JSONResponse(_body(exc.code, exc.message, exc.field), status_code=status_of(exc.code))


async def _api(request: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(_body(exc.code, exc.message, exc.field), status_code=exc.status, headers=headers)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    err = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request", "type": ""}
    field = _field(err.get("loc", ()))
    msg = {"missing": "required field is missing", "json_invalid": "the body is not valid JSON",
           "extra_forbidden": "unknown field"}.get(err.get("type"), err.get("msg", "invalid"))
    return JSONResponse(_body("invalid_data", f"field {field!r}: {msg}", field), status_code=422)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:  # a body FastAPI cannot parse at all (not UTF-8, not JSON)
        return JSONResponse(_body("invalid_data", f"field 'body': {exc.detail}", "body"), status_code=422)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse(_body(code, message), status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _personal(request: Request, exc: PersonalDataError) -> JSONResponse:
    code = PERSONAL_CODES.get(exc.code, "personal_data_unavailable")
    status = status_of(code)
    if status == 503:
        log.error("personal data unavailable: %s", exc)
    return JSONResponse(_body(code, exc.message), status_code=status)


async def _token(request: Request, exc: TokenError) -> JSONResponse:
    return JSONResponse(_body(exc.code, exc.message, exc.field), status_code=status_of(exc.code))


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""
    app.add_exception_handler(RuleViolation, _rule)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(PersonalDataError, _personal)
    app.add_exception_handler(TokenError, _token)
