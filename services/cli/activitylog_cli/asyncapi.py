"""`activitylog asyncapi`: print the stream's AsyncAPI 3.0 document."""

from __future__ import annotations

import json

import click

from activitylog.contract.asyncapi import asyncapi_document, asyncapi_yaml
from activitylog.runtime.settings import get_settings


@click.command("asyncapi")
@click.option("--yaml", "as_yaml", is_flag=True, help="YAML instead of JSON.")
def asyncapi(as_yaml: bool) -> None:
    """Print the AsyncAPI document of the event stream (ACTIVITY_STREAM); needs no server."""
    stream = get_settings().activity_stream
    if as_yaml:
        click.echo(asyncapi_yaml(stream), nl=False)
    else:
        click.echo(json.dumps(asyncapi_document(stream), indent=2, ensure_ascii=False))
