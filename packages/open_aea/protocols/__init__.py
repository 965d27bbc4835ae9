"""Protocols authored by open_aea (offline stand-ins)."""
