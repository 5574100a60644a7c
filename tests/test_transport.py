"""Delivery's hooks into apprise are installed explicitly and rely on apprise internals: this test
fails when apprise moves them (then notifications/transport.py needs a look)."""
from __future__ import annotations

import importlib

import requests
from apprise.plugins.email import base as email_base

from notifications import transport
from notifications.delivery import Courier


def test_apprise_still_has_what_the_transport_hooks_into():
    assert callable(email_base.make_msgid)
    for name in transport.WEBHOOK_PLUGINS:
        module = importlib.import_module(f"apprise.plugins.{name}")
        assert getattr(module, "requests", None) is not None, f"apprise.plugins.{name} no longer uses requests"


def test_starting_delivery_installs_the_transport_once(registry, directory):
    Courier(registry, directory)
    Courier(registry, directory)
    assert getattr(email_base.make_msgid, "_qorgau", False)
    for name in transport.WEBHOOK_PLUGINS:
        module = importlib.import_module(f"apprise.plugins.{name}")
        assert isinstance(module.requests, transport._PooledRequests) and module.requests is not requests
    with transport.sending("<abc@qorgau>") as lines:
        assert email_base.make_msgid() == "<abc@qorgau>" and lines == []
    assert email_base.make_msgid() != "<abc@qorgau>"
