"""The console demo, a second adapter over the same service: `chat` is the conversation (the
terminal as the channel, typed words as the buttons), `terminal` renders Slack's messages as
plain text."""
