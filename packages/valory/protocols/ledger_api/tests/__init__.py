"""Tests of the ledger_api protocol."""
