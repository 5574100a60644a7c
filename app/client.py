"""A small HTTP client of the Qorgau API, for the command line's `--api URL --token T` mode.

    from app.client import Client
    api = Client("http://localhost:8000", token)
    item = api.inbox()["items"][0]
    api.fire(item["case"]["ref"], "assess", {"immediate_danger": False, "perpetrator": "peer"},
             version=item["case"]["version"])

Every method returns the API's JSON; an error answer raises `ApiError` with its code, message and
field (connection failures too, with code `unreachable`).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

PREFIX = "/api/v1"


class ApiError(Exception):
    """The API refused a request: `code` (spec error code), `message`, `field`, HTTP `status`."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.field, self.status = code, message, field, status


class Client:
    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, http: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith(PREFIX):
            self.base_url = self.base_url[: -len(PREFIX)]
        self.http = http or httpx.Client(timeout=timeout)
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                raw: bool = False) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.http.request(method, self.base_url + PREFIX + path, params=params, json=json,
                                         headers=self.headers)
        except httpx.HTTPError as exc:
            raise ApiError("unreachable", f"cannot reach the API at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(body.get("code", f"http_{response.status_code}"),
                           body.get("message", response.text[:200] or response.reason_phrase),
                           body.get("field"), response.status_code)
        return response.text if raw else response.json()

    # --- everyone
    def me(self) -> dict:
        return self.request("GET", "/me")

    def algorithms(self) -> list:
        return self.request("GET", "/algorithms")

    def cases(self, **filters) -> dict:
        return self.request("GET", "/cases", params=filters)

    def case(self, ref: str) -> dict:
        return self.request("GET", f"/cases/{quote(ref, safe='')}")

    def history(self, ref: str) -> dict:
        return self.request("GET", f"/cases/{quote(ref, safe='')}/history")

    def actions(self, ref: str) -> list:
        return self.request("GET", f"/cases/{quote(ref, safe='')}/actions")

    def personal(self, ref: str, purpose: str, note: str | None = None) -> dict:
        params = {"purpose": purpose, **({"note": note} if note else {})}
        return self.request("GET", f"/cases/{quote(ref, safe='')}/personal", params=params)

    # --- coordinators and agencies
    def launch(self, algorithm: str, region: str, data: dict | None = None,
               algorithm_version: int | None = None) -> dict:
        body = {"algorithm": algorithm, "region": region, "data": data or {}}
        if algorithm_version is not None:
            body["algorithm_version"] = algorithm_version
        return self.request("POST", "/cases", json=body)

    def inbox(self, *, overdue: bool = False, limit: int = 100, offset: int = 0) -> dict:
        return self.request("GET", "/inbox", params={"overdue": overdue, "limit": limit, "offset": offset})

    def fire(self, ref: str, trigger: str, data: dict | None = None, *, version: int) -> dict:
        return self.request("POST", f"/cases/{quote(ref, safe='')}/fire",
                            json={"trigger": trigger, "data": data or {}, "version": version})

    # --- auditors
    def replay(self, ref: str, at: str | None = None) -> dict:
        return self.request("GET", f"/cases/{quote(ref, safe='')}/replay", params={"at": at})

    def verify(self, ref: str | None = None) -> dict:
        return self.request("GET", f"/cases/{quote(ref, safe='')}/verify" if ref else "/verify")

    def compliance(self, date_from: str, date_to: str, *, region: str | None = None, by: str = "body",
                   fmt: str = "json", part: str = "tasks") -> Any:
        """JSON: rows, versions and reported_late; CSV: one table (`part`: tasks, reported_late, versions)."""
        return self.request("GET", "/reports/compliance", params={"from": date_from, "to": date_to, "region": region,
                                                                  "by": by, "format": fmt, "part": part},
                            raw=fmt == "csv")

    # --- admins
    def tokens(self) -> list:
        return self.request("GET", "/tokens")

    def create_token(self, body: str, role: str, label: str | None = None) -> dict:
        return self.request("POST", "/tokens", json={"body": body, "role": role, "label": label})

    def revoke_token(self, token_id: int) -> dict:
        return self.request("DELETE", f"/tokens/{int(token_id)}")
