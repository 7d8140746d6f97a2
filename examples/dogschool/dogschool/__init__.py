"""The dog school: an event-sourced application, a leaderboard projection, and its pages."""
