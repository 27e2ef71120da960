"""Thin Slack listeners, one module per surface, each registering itself on the app."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, events, views
from handlers.context import Deps

__all__ = ["Deps", "register_all"]


def register_all(app: App, deps: Deps) -> None:
    for surface in (commands, actions, views, events):
        surface.register(app, deps)
    actions.register_fallback(app, deps)
