"""The Zequenze API simulator: the headless-operation endpoint over real HTTP on loopback
(`endpoint`), for the demo and the tests, with the faults a real network and API produce
(`faults`)."""
