"""Request and response bodies as they travel on the wire."""
