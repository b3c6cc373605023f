"""Thin command-line front end over the public Python API."""
