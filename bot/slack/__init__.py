"""The Slack adapter: Bolt served over HTTP (waitress) or Socket Mode (`app`), the guard that
refuses malformed HTTP requests before Bolt sees them (`guard`), and the Slack side of the
ports: posting, delivering, pacing answers and reading time zones (`notifier`), reading user
groups (`groups`), and the Home tab (`home_tab` gathers and builds it, `home` publishes it)."""
