"""Tests of the contract_api protocol."""
