"""Offline stand-in for the valory/http_server connection: an aiohttp server that hands requests to a skill."""
