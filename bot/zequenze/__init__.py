"""What talks to the Zequenze control API: its client (`api`, httpx), the device names as the
API spells them (`devices`), and the API itself simulated over HTTP on loopback for the demo
and the tests (`simulator`)."""
