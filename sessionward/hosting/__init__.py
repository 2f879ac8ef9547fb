"""What the actors run in: actor systems, their authenticated transport, process lifetimes, store claims."""
