"""Waves, in Block Kit: the plan in the confirmation, the wave line of the public message, a
halt's Continue and Stop, and the thread's lines for each wave.
"""

from __future__ import annotations

from typing import Any

from bot import say
from bot.say.common_blocks import (
    ACTION_CONTINUE,
    ACTION_STOP,
    ERROR_SHOWN,
    MAX_SECTION_TEXT,
    VARIANT_SHOWN,
    Blocks,
    button,
    device_codes,
    escaped,
    fit_lines,
    joined,
    operation_label,
    section,
)
from bot.say.policy_blocks import wave_approvers
from store import (
    STOPPED,
    WAVE_CONTINUED,
    WAVE_STARTED,
    WAVES_STOPPED,
    RequestRecord,
)


def wave_plan(request: RequestRecord) -> Blocks:
    """How the devices go, wave by wave, and the first wave's devices."""
    if request.waves < 2:
        return []
    first = [op.device_name for op in request.wave_operations(1)]
    line = say.waves.waves_plan(
        waves=request.waves,
        size=request.wave_size,
        canary=request.canary,
        first=joined(device_codes(list(dict.fromkeys(first))), VARIANT_SHOWN),
    )
    return [section(line)]


def wave_line(request: RequestRecord) -> str | None:
    """Where a request's waves stand (None: not in waves): the current wave, or the halt."""
    if request.waves < 2:
        return None
    return say.waves.wave_status(
        wave=request.wave,
        waves=request.waves,
        state=request.wave_state,
        waiting=len({op.device_name for op in request.waiting}),
    )


def wave_blocks(request: RequestRecord) -> Blocks:
    """The status message's wave line and, when halted, Continue and Stop."""
    line = wave_line(request)
    if line is None:
        return []
    blocks = [section(line)]
    if request.wave_state == "halted":
        blocks.append(halt_buttons(request))
    return blocks


def halt_buttons(request: RequestRecord) -> dict[str, Any]:
    value = f"{request.id}:{request.wave}"
    return {
        "type": "actions",
        "block_id": "ops_waves",
        "elements": [
            button(say.waves.CONTINUE, ACTION_CONTINUE, value, style="primary"),
            button(say.waves.STOP, ACTION_STOP, value, style="danger"),
        ],
    }


def _wave_devices(request: RequestRecord, wave: int) -> str:
    names = list(dict.fromkeys(op.device_name for op in request.wave_operations(wave)))
    return joined(device_codes(names), VARIANT_SHOWN)


def wave_event(kind: str, data: dict[str, Any], request: RequestRecord) -> str:
    """A wave's start, its halt (the devices that failed with the API's errors, and those
    held), Continue and Stop."""
    wave = int(data.get("wave") or 0)
    who = f"<@{data['by']}>" if data.get("by") else ""
    if kind == WAVE_STARTED:
        return say.waves.wave_started(
            wave=wave,
            waves=request.waves,
            devices=_wave_devices(request, wave),
            canary=request.canary and wave == 1,
        )
    if kind == WAVE_CONTINUED:
        return say.waves.wave_continued(
            who=who, wave=wave, waves=request.waves, devices=_wave_devices(request, wave)
        )
    if kind == WAVES_STOPPED:
        stopped = [op.device_name for op in request.operations if op.state == STOPPED]
        return say.waves.waves_stopped(
            who=who,
            held=joined(device_codes(list(dict.fromkeys(stopped))), VARIANT_SHOWN),
        )
    failed_ids = set(data.get("failed") or ())
    failed = [
        say.waves.wave_failure(
            device=operation_label(op),
            error=escaped(op.error or op.status or say.track.NOT_SCHEDULED, ERROR_SHOWN),
        )
        for op in request.operations
        if op.id in failed_ids
    ]
    # Held: the waves after the failed one, as they stood at the halt.
    later = [op.device_name for op in request.operations if (op.wave or 0) > wave]
    shown, rest = fit_lines(failed, 1, budget=MAX_SECTION_TEXT // 2)
    return say.waves.wave_halted(
        wave=wave,
        waves=request.waves,
        failed=[*shown, say.track.and_more(rest)] if rest else shown,
        held=joined(device_codes(list(dict.fromkeys(later))), VARIANT_SHOWN),
        who=" or ".join([f"<@{request.requester}>", *wave_approvers(request)]),
    )
