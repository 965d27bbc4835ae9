"""Tests of the signing protocol."""
