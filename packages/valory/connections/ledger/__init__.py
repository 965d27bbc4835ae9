"""Offline stand-in for the valory/ledger connection: ledger and contract API requests."""
