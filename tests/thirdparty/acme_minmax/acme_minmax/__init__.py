"""ACME's range component for hulian nodes."""
