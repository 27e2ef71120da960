"""Waves: a request's devices sent a wave at a time, each wave only once the one before has
ended with no failure. Pure functions of the devices and the size asked; the store keeps each
operation's wave number and each request's progress (store/waves.py)."""

from __future__ import annotations

from collections.abc import Sequence


def split(devices: Sequence[str], *, size: int | None, canary: bool) -> list[list[str]]:
    """The devices, each once, in the order asked, as waves: with a `canary`, the first
    device alone, then the others `size` at a time (all at once without a size)."""
    names = list(dict.fromkeys(devices))
    waves: list[list[str]] = []
    if canary and names:
        waves.append(names[:1])
        names = names[1:]
    step = size or len(names) or 1
    waves.extend(names[i : i + step] for i in range(0, len(names), step))
    return waves


def numbers(devices: Sequence[str], *, size: int | None, canary: bool) -> list[int] | None:
    """Each operation's wave, from 1, by its device's wave (`devices`: each operation's, in
    order; every operation on a device goes in that device's wave); None when the request is
    not in waves or makes only one."""
    if not size and not canary:
        return None
    waves = split(devices, size=size, canary=canary)
    if len(waves) < 2:
        return None
    of = {name: index for index, wave in enumerate(waves, start=1) for name in wave}
    return [of[name] for name in devices]
