"""The files: the session index, transcripts, inboxes, and how they are written. Pure (no actor engine)."""
