"""Where a request is understood: what a person typed (`typed`), read into a command
(`grammar`, with the times of `when`, the device names, ranges and `@groups` of `naming`, the
operation kinds of `catalog`, the waves of `waves`), the example offered when it cannot be
(`suggestions`), and what else is happening on the same devices before a confirmation
(`preflight`). No Slack here: text in, plain values out."""
