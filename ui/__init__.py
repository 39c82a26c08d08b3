"""The Gradio app. No analytics, no version check, no telemetry: set here, before any module of
the package imports Gradio (and the Blocks say analytics_enabled=False too, whatever the
environment says). Gradio's cache (uploads, and the copies of the downloads the page links
to) is a folder only this user can read (ui.guard.private_cache_dir), unless GRADIO_TEMP_DIR
says otherwise."""

import os

from ui.guard import private_cache_dir

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if not os.environ.get("GRADIO_TEMP_DIR"):
    os.environ["GRADIO_TEMP_DIR"] = private_cache_dir()
