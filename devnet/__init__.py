"""The project's local development network: Tendermint nodes, kubo and the 4 agents on 127.0.0.1 (no Docker)."""
