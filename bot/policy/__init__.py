"""Who may run what, where and when: the site's configuration file and what follows from it
(access, approvals, maintenance windows, freezes). Plain values in, plain values out."""
