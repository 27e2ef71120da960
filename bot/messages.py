"""Moved to bot/say/<topic>_blocks.py; this re-export lasts only while callers move."""

# ruff: noqa: F403
from bot.say.common_blocks import *
from bot.say.lists_blocks import *
from bot.say.modal_blocks import *
from bot.say.policy_blocks import *
from bot.say.recovery_blocks import *
from bot.say.track_blocks import *
from bot.say.waves_blocks import *
