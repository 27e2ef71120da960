"""Waves: the plan, each wave's start, a halt (the devices that failed and those held),
Continue and Stop.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.say.common import and_list, plural

# --- waves ---------------------------------------------------------------------------------


def waves_need_size(phrase: str) -> str:
    return f"“{phrase}” needs a number of devices: in waves of 10, or 10 at a time."


def wave_size_not_a_number(phrase: str) -> str:
    return f"“{phrase}”: a wave is a whole number of devices, written in digits."


def wave_size_zero(phrase: str) -> str:
    return f"“{phrase}”: a wave needs at least one device."


def two_wave_sizes(sizes: Sequence[int]) -> str:
    return f"Two wave sizes ({and_list([str(n) for n in sizes])}): say one."


def one_wave(devices: int) -> str:
    make = "makes" if devices == 1 else "make"
    return f"{plural(devices, 'device')} {make} a single wave: all go at once."


def waves_plan(*, waves: int, size: int | None, canary: bool, first: str) -> str:
    """The confirmation's line: how the devices go, and the first wave's."""
    how = []
    if canary:
        how.append("a canary first")
    if size:
        how.append(f"then {size} at a time" if canary else f"{size} at a time")
    elif canary:
        how.append("then the rest together")
    return (
        f"🌊 *In {waves} waves* ({', '.join(how)}); each goes once the one before has ended "
        f"with no failure, and a failure holds the rest for you to continue or stop. "
        f"*Wave 1:* {first}"
    )


def wave_status(*, wave: int, waves: int, state: str | None, waiting: int) -> str:
    """The status message's wave line."""
    if state == "halted":
        return f"⏸️ *Halted after wave {wave} of {waves}:* {plural(waiting, 'device')} held."
    if state == "stopped":
        return f"⏹️ *Stopped after wave {wave} of {waves}:* the held devices were never sent."
    if wave == 0:
        return f"🌊 *{waves} waves*, the first when confirmed."
    more = f" · {plural(waiting, 'device')} waiting for their wave" if waiting else ""
    return f"🌊 *Wave {wave} of {waves}*{more}"


def wave_started(*, wave: int, waves: int, devices: str, canary: bool) -> str:
    what = "the canary" if canary else f"{devices}"
    return f"🌊 Wave {wave} of {waves} goes: {what}" + (f" ({devices})" if canary else "") + "."


def wave_halted(*, wave: int, waves: int, failed: Sequence[str], held: str, who: str) -> str:
    lines = [f"⏸️ *Wave {wave} of {waves} failed, so the request is halted.*"]
    lines += [f"❌ {line}" for line in failed]
    lines.append(f"Held, not sent: {held}.")
    lines.append(f"{who}: *Continue* sends wave {wave + 1}; *Stop* ends the request.")
    return "\n".join(lines)


def wave_failure(*, device: str, error: str) -> str:
    return f"{device}: {error}" if error else device


def wave_continued(*, who: str, wave: int, waves: int, devices: str) -> str:
    return f"▶️ {who} continued: wave {wave} of {waves} goes ({devices})."


def waves_stopped(*, who: str, held: str) -> str:
    """`held`: the devices, runs written as ranges with their count."""
    return f"⏹️ {who} stopped the request: {held} never sent."


# Plain text: an operation's error is escaped wherever it is shown (the thread says who).
STOPPED_ERROR = "stopped: never sent"


WAITING_FOR_WAVE = "waiting for its wave"
STOPPED = "stopped, never sent"
DEMO_NOTHING_HALTED = (
    "No request is halted: `continue` and `stop` answer a request halted after a failed wave."
)
CONTINUE = "Continue"
STOP = "Stop"
CONTINUE_ANSWER = "▶️ Continued: the next wave goes now."
STOP_ANSWER = "⏹️ Stopped: the held devices will not be sent."


def wave_state(state: str | None, *, wave: int, waves: int) -> str:
    """Where a request's waves stand, for a click that came too late to change them."""
    if state == "stopped":
        return "it was stopped"
    if state == "halted":
        return f"it is halted after wave {wave} now: use the newest buttons"
    if state == "going":
        return f"it goes on, wave {wave} of {waves}"
    return "it is not in waves"
