"""The wave phrases of a command (`in waves of 10`, `10 at a time`, `with a canary`), taken out
of its words before the devices are read."""

from __future__ import annotations

from bot import say
from bot.model import Refusal
from bot.understand.catalog import OperationKind
from bot.understand.values import INTEGER

# `in waves of 10`, `10 at a time` (`10 devices at a time`), `with a canary`.
WAVES_OF = ("in", "waves", "of")
AT_A_TIME = ("at", "a", "time")
CANARY = ("with", "a", "canary")
DEVICE_WORDS = frozenset({"device", "devices"})
MAX_WAVE_DIGITS = 6  # a wave wider than any request is one wave: read no further


def take_waves(kind: OperationKind, args: list[str]) -> tuple[list[str], int | None, bool]:
    """The words left once the wave phrases are taken out, the wave size (None: not asked)
    and whether a canary goes first. A size that is not a whole number of at least one, or
    two sizes, is refused with a correct example."""
    lowered = [a.lower() for a in args]
    kept: list[str] = []
    sizes: list[int] = []
    canary = False
    i = 0
    while i < len(args):
        if tuple(lowered[i : i + 3]) == WAVES_OF:
            number = lowered[i + 3] if i + 3 < len(args) else ""
            sizes.append(_wave_size(kind, " ".join(args[i : i + 4]), number))
            i += 4
            if i < len(args) and lowered[i] in DEVICE_WORDS:
                i += 1
            continue
        if tuple(lowered[i : i + 2]) == ("in", "waves"):
            raise Refusal(
                say.waves.waves_need_size(" ".join(args[i : i + 3])), example=_waves_example(kind)
            )
        skip = 2 if i + 1 < len(args) and lowered[i + 1] in DEVICE_WORDS else 1
        if INTEGER.fullmatch(lowered[i]) and tuple(lowered[i + skip : i + skip + 3]) == AT_A_TIME:
            sizes.append(_wave_size(kind, " ".join(args[i : i + skip + 3]), lowered[i]))
            i += skip + 3
            continue
        if tuple(lowered[i : i + 3]) == CANARY:
            canary = True
            i += 3
            continue
        kept.append(args[i])
        i += 1
    if len(sizes) > 1:
        raise Refusal(say.waves.two_wave_sizes(sizes), example=_waves_example(kind))
    return kept, (sizes[0] if sizes else None), canary


def _wave_size(kind: OperationKind, phrase: str, number: str) -> int:
    if not (number.isascii() and number.isdigit()):
        raise Refusal(say.waves.wave_size_not_a_number(phrase), example=_waves_example(kind))
    digits = number.lstrip("0")
    if not digits:
        raise Refusal(say.waves.wave_size_zero(phrase), example=_waves_example(kind))
    return int(digits[:MAX_WAVE_DIGITS]) if len(digits) <= MAX_WAVE_DIGITS else 10**MAX_WAVE_DIGITS


def _waves_example(kind: OperationKind) -> str:
    return say.grammar.EXAMPLE_WAVES
