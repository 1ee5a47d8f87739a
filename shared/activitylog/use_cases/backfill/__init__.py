"""Carrying the old Airtable SMS_Audit history into the log and checking it: sources read,
batches stored, runs recorded.
"""
