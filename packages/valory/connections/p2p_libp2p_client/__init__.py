"""Offline stand-in for the valory/p2p_libp2p_client connection: connect/disconnect only."""
