"""Serve open-autonomy's Tendermint control app, taking the `run --host --port` arguments the compose file gives."""

import argparse

from app import create_server  # pylint: disable=import-error  # /app is on PYTHONPATH in the image


def main() -> None:
    """Parse the upstream image's Flask CLI arguments and serve the app (which starts the node)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--no-reload", action="store_true")
    parser.add_argument("--host", default="0.0.0.0")  # nosec
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    create_server().run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
