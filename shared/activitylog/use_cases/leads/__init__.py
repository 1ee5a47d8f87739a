"""Saving leads (insert, adopt the portal's UUID, merge; events and counters follow) and the lead
sync.
"""
