"""API keys (verified online, or from their Redis copies while PostgreSQL is down) and admin
accounts (sign-in throttles, devices).
"""
