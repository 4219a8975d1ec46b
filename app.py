"""Gradio demo: paint a hole into an image and let a DCGAN fill it (Yeh et al., CVPR 2017).

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)
    python app.py --share    # and a public link

The entry point that Spaces runs. The page is the `ui` package, the engine behind it
`inpaint.service`. The API endpoint `/inpaint` takes the ImageEditor value first, `/restore` the
degraded image first (deblur, upscale, denoise or colourise); every other input has a default.
Environment: INPAINT_TIME_LIMIT, INPAINT_HUB_WAIT (seconds),
INPAINT_MAX_FILE_SIZE, INPAINT_ALLOW_LOCAL_MODELS=1. On a ZeroGPU Space each search runs under
`spaces.GPU` (see ui/gpu.py).
"""

from __future__ import annotations

import argparse
import os

try:  # first: on a ZeroGPU Space, `spaces` must patch torch before anything imports it (ui/gpu.py uses it)
    import spaces  # noqa: F401
except ImportError:
    spaces = None

from ui import MAX_FILE_SIZE, build_demo  # noqa: E402 - after spaces

__all__ = ["build_demo", "main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    demo = build_demo()
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_FILE_SIZE)


if __name__ == "__main__":
    main()
