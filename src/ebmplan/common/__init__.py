"""Shared infrastructure: errors, files, run folders, logging, config parts, backends, resources."""
