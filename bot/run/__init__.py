"""What runs the process: the `opsbot` command (`cli`: its arguments; each command's body by
topic: `serve` for `opsbot run` and its start-up checks, `demo` for the demo and the
simulator, `database_commands` for backup, migrate, copy-db and audit, `offline` for parse
and check-config; `logs` for the log formats, `failures` for how a command ends), its
settings from the environment (`settings`), the `runtime` that assembles the parts around
one chat surface and runs the loops, what a probe and a scrape ask (`health`, `metrics`), the
audit export (`audit`), and the named points where the crash tests kill it (`failpoints`)."""
