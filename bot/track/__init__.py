"""Where work is tracked, after a click has changed the store: the loops the runtime runs on
its `ticker`, gated by `leadership` (the replica holding the lease does them): `sending` POSTs
confirmed operations, `reconcile` settles a create whose outcome is unknown, `poller` asks the
API how each goes, `outbox` delivers what the thread is told, each channel at its `pacing`;
`backoff` and `tuning` are their waits and timings, and `halts` answers a halted wave's
Continue and Stop."""
