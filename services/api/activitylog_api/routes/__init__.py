"""The API's route handlers, one module per area of the API."""
