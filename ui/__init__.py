"""The Gradio app. No analytics, no version check, no telemetry: set here, before any module of
the package imports Gradio (and the Blocks say analytics_enabled=False too, whatever the
environment says)."""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
