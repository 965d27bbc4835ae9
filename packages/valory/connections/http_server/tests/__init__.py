"""Tests of the http_server connection stand-in."""
