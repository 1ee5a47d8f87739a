"""Use cases: what the product does, over storage; services and the CLI are thin adapters over
them.
"""
