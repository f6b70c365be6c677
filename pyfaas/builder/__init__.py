"""The builder: templates and Dockerfiles into the local image store; store functions.

``build_function`` builds a handler into ``pyfaas.images.ImageStore``;
``pyfaas.builder.templates`` copies templates and creates handlers;
``pyfaas.builder.store`` knows the ready-made functions and builds them on demand.
"""

from __future__ import annotations

from pyfaas.builder.builder import build_function
from pyfaas.builder.store import StoreFunction, ensure_image, get_store_function, list_store
from pyfaas.builder.templates import (
    available_templates,
    copy_template,
    new_handler,
    template_store,
)

__all__ = [
    "StoreFunction",
    "available_templates",
    "build_function",
    "copy_template",
    "ensure_image",
    "get_store_function",
    "list_store",
    "new_handler",
    "template_store",
]
