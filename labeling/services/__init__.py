"""The service layer: `check_*` validates and checks access, `do_*` writes inside
`transaction.atomic` and queues side effects with `on_commit` (habit from zulip).
Views and consumers stay thin and call these."""
