"""The policy file's tables, one reader each (`access`, `rules`, `windows`, `operations`,
`groups`, `limits`, `demo`), with the values it gives; `devices` reads the device patterns of
rules and windows, and `reader` what every table's reader shares. `bot.policy.config` puts
them together."""
