"""Tests of the http protocol."""
