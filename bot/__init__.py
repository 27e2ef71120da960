"""opsbot: a Slack chat-ops bot for the Zequenze control API's headless device operations."""
