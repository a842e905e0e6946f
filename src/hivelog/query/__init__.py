"""Reads: filters, session trees, aggregates, shared by routes, UI and CLI."""
