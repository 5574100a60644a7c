"""Errors as values: a rejected trigger carries the spec's code, the rule broken and the field."""
from __future__ import annotations

ERROR_CODES = ("unknown_case", "unknown_trigger", "invalid_transition", "forbidden",
               "invalid_data", "guard_failed", "conflict", "not_migratable")


class RuleViolation(Exception):
    """A launch or trigger was rejected; nothing was written."""

    def __init__(self, code: str, message: str, field: str | None = None):
        if code not in ERROR_CODES:  # a programming error, not the caller's: fail loudly
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.field = code, message, field

    def as_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class DefinitionChanged(RuntimeError):
    """A definition's content differs from the one pinned for its version: publish a new version."""


PERSONAL_DATA_CODES = ("no_master_key", "wrong_master_key", "tampered", "erased", "unknown_subject", "retention")


class PersonalDataError(ValueError):
    """Personal data could not be stored, read or erased; `code` says why, the message what to do.

    Codes: no_master_key (none configured, or malformed), wrong_master_key (the subject's data key
    was wrapped by another master key, or its wrapped key was altered), tampered (the encrypted
    payload fails authentication), erased, unknown_subject, retention (erasure refused: a case is
    open or the retention period has not passed)."""

    def __init__(self, code: str, message: str):
        if code not in PERSONAL_DATA_CODES:  # a programming error, not the caller's: fail loudly
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message
