"""Tests of the http_client connection stand-in."""
