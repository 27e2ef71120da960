"""Moved to bot/say/, one module per topic; this re-export lasts only while callers move."""

# ruff: noqa: F403
from bot.say.api import *
from bot.say.common import *
from bot.say.grammar import *
from bot.say.help import *
from bot.say.home import *
from bot.say.lists import *
from bot.say.modal import *
from bot.say.policy import *
from bot.say.preflight import *
from bot.say.recovery import *
from bot.say.terminal import *
from bot.say.time import *
from bot.say.track import *
from bot.say.waves import *
