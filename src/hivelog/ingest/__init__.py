"""The write path: the group-commit writer."""
