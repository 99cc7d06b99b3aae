"""`make bench`: this package against the alternatives a user would pick, measured in one run."""
