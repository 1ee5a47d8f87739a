from activitylog_cli.main import cli

cli()
