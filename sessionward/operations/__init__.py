"""Running sessionward: the admin client, the daemon and its control, the store doctor."""
