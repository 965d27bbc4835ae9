"""Tests of the ledger connection stand-in."""
