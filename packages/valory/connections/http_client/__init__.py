"""Offline stand-in for the valory/http_client connection: HTTP requests through aiohttp."""
