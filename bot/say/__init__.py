"""What the bot says and shows, one module per topic.

A topic's words (`waves.py`) are plain sentences, used by Slack and the terminal alike; they
import nothing of the bot but each other, so any module may use them. A topic's Block Kit
(`waves_blocks.py`) builds the Slack messages from the store's records and those words; only
the Slack side and the terminal's rendering of Slack messages import it.

`from bot import say` gives every topic's words: `say.waves.wave_halted(...)`.
"""

from bot.say import (
    api,
    audit,
    common,
    grammar,
    help,
    home,
    lists,
    modal,
    policy,
    preflight,
    recovery,
    terminal,
    time,
    track,
    waves,
)

__all__ = [
    "api",
    "audit",
    "common",
    "grammar",
    "help",
    "home",
    "lists",
    "modal",
    "policy",
    "preflight",
    "recovery",
    "terminal",
    "time",
    "track",
    "waves",
]
