"""The reads' vocabulary, pure: what a query of the log may ask (`query`), the one parser of
its parameters (`params`), the one cursor dialect (`cursor`), keyset pages (`paging`) and
the typed rows a read returns with their one JSON spelling (`rows`)."""
