"""What one retry-queue row attempt means (outcomes), how a row reads (views), the old Airtable
Retry_Queue export (airtable_export): pure.
"""
