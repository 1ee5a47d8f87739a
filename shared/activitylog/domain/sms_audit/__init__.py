"""The old Airtable SMS_Audit table, pure: its rows, the events they hold, the comparison with
the log.
"""
