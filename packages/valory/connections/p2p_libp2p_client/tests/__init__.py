"""Tests of the p2p_libp2p_client connection stand-in."""
