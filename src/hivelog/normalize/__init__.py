"""Wire bodies → the canonical Event and EventUpdate; pure, no I/O."""
