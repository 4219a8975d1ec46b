"""The Gradio front end: the page (`layout`), the editor's value <-> (image, hole) (`editor`), and
the callbacks (`callbacks`). The engine behind it is `inpaint.service.Service`."""

from .layout import MAX_FILE_SIZE, build_demo

__all__ = ["MAX_FILE_SIZE", "build_demo"]
