"""The functions a run deploys: a python3-http echo (also the no-op) and classic ``cat``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyfaas.builder.builder import build_function
from pyfaas.builder.templates import new_handler
from pyfaas.images import ImageStore

ECHO_IMAGE = "bench/echo:latest"
CAT_IMAGE = "ghcr.io/openfaas/alpine:latest"
HANDLER = """\
def handle(event, context):
    return {"statusCode": 200, "body": event.body}
"""


def build_echo(images: Path, project: Path) -> str:
    """Build the python3-http echo into the image store at ``images``."""
    project.mkdir(parents=True, exist_ok=True)
    handler = new_handler("echo", "python3-http", project)
    (handler / "handler.py").write_text(HANDLER)
    build_function("echo", "python3-http", handler, ECHO_IMAGE, project, ImageStore(images))
    return ECHO_IMAGE


def echo_spec(name: str) -> dict[str, Any]:
    return {"service": name, "image": ECHO_IMAGE}


def cat_spec(name: str) -> dict[str, Any]:
    return {"service": name, "image": CAT_IMAGE, "envProcess": "cat"}
