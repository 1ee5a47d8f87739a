"""The API fixtures (tests/api_fixtures.py) for this folder."""

from api_fixtures import *  # noqa: F403
