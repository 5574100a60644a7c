"""The web pages: server-rendered HTML on the API's own app, under `/` (the API stays under /api/v1).

One module per page, with its form handling: `login` (sign-in, sign-out, language), `inbox`, `task`
(the task form and its fire), `case` (the case page, its timeline and replay), `personal` (the
child's personal data), `cases` (the case lists), `dashboard` (the coordinator's dashboard and its
launch form), `region_map` (the risk map), `audit` (compliance and its CSV, with `plan` and
`verification` for an auditor), `migrations` (moving running cases to a new version of their
algorithm: the ministry's coordinator plans and applies, auditors read), `persons` (the people who
act for bodies, for an administrator: create, deactivate, erase, their sessions and what they did).
`context` holds what they share: `SignedIn`, the page's language, the store calls and the error
page; `params` the strict reading of query values.

Who may see and do what is the domain's rule (`states.access`), checked here on the server for every
page and form; every write is a command (`request.app.state.commands.handle`). Sign-in takes the
same tokens as the API and gives a signed session cookie (HttpOnly, SameSite=Strict); every form
carries the session's CSRF token. Times are shown on the Kazakhstan clock; titles come from the
definitions and the directory, never identifiers.
"""
from __future__ import annotations

from fastapi import APIRouter

from . import (audit, case, cases, dashboard, inbox, login, migrations, oidc_login, personal, persons, region_map,
               task, verification)
from .context import FormRefused, SignInRequired, refuse_form, sign_in_first
from .params import InvalidInput, invalid_input_page

router = APIRouter(include_in_schema=False)
for page in (login, oidc_login, inbox, task, case, personal, cases, dashboard, region_map, audit, verification, migrations,
             persons):
    router.routes.extend(page.router.routes)  # as they are (see app.web.install): each route has its dependencies

# What app.web.install answers for the pages: an exception type and its handler.
EXCEPTION_PAGES = {SignInRequired: sign_in_first, FormRefused: refuse_form, InvalidInput: invalid_input_page}

__all__ = ["router", "EXCEPTION_PAGES", "InvalidInput", "invalid_input_page"]
