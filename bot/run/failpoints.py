"""Named points where the fault-injection tests kill the bot, to prove it recovers.

`OPSBOT_FAILPOINT=after_post` makes the process SIGKILL itself the first time it reaches
`failpoint("after_post")`. Unset (always, in production), a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "OPSBOT_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
