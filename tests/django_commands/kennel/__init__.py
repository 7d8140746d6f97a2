"""A Django app of the tests: a projection into a Django model, and a follower, to run."""
