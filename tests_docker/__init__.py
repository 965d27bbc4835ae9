"""Tests that need a Docker engine and build images: opt-in (`make test-deploy`), outside pytest.ini testpaths."""
