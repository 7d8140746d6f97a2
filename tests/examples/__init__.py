"""The `eventsourcing` library's documented example applications, written for retell."""
