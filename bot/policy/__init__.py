"""Where policy is decided: who may run what, where and when. The site's configuration file and
what follows from it (`config`, each of its tables read in `tables`; `rules`: access,
approvals; `windows`, `freezes`; `groups`: user groups without Slack), the verdict as the
service and people see it (`desk`), the sender's last look before a POST (`gate`), and the
clicks the policy answers, each judged by the file in force at the click: who may click what
(`clicks`), other people's approvals (`approvals`), and Move or Drop for an operation kept
outside its window (`outside`). Plain values in, plain values out."""
