"""Expected sources, pure: rules and their daily windows in a time zone, silence, rate drops
against the 4-week same-hour median, suggested rules.
"""
