"""OTLP attribute dialects, one module each, same interface."""
