"""What runs the process: the `opsbot` command (`cli`: its arguments, start-up checks, the
demo, the log formats), its settings from the environment (`settings`), the `runtime` that
assembles the parts around one chat surface and runs the loops, what a probe and a scrape ask
(`health`, `metrics`), the audit export (`audit`), and the named points where the crash tests
kill it (`failpoints`)."""
