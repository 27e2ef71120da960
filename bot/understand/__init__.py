"""Where a request is understood: what a person typed (`typed`), cut into words (`tokens`),
read into a command (`grammar`, past the politeness of `courtesy`, with the names of `names`,
the devices of `devices`, the options and values of `options` and `values`, the wave phrases
of `wave_phrases`, the `list` and `status` of `queries`, the refusals' examples of
`examples`, the times of `when`, the device names, ranges and `@groups` of `naming`, the
operation kinds of `catalog`, the waves of `waves`), the modal's fields read as the text is
(`fields`), the example offered when it cannot be (`suggestions`), and what else is happening
on the same devices before a confirmation (`preflight`). No Slack here: text in, plain values
out."""
