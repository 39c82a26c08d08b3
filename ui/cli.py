"""`retention ui`: the Gradio app from the command line (registered by the `retention.commands`
entry point, so `agent.cli` names no `ui` module)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.common import (
    DEFAULT_WS,
    CurrencyOpt,
    DemoOpt,
    StoreOpt,
    WorkspaceOpt,
    load_and_print,
    resolve_store,
    run_settings,
)
from agent.workspace import Workspace


def register(app: typer.Typer) -> None:
    """Add the `ui` command to `app`."""

    @app.command("ui")
    def ui(
        store: StoreOpt = None,
        demo: DemoOpt = False,
        port: Annotated[int, typer.Option("--port")] = 7860,
        currency: CurrencyOpt = None,
        workspace: WorkspaceOpt = DEFAULT_WS,
    ) -> None:
        """Start the Gradio app on 127.0.0.1 (after the store's summary: what `make run` shows)."""
        from ui.app import launch

        ws = Workspace.at(workspace)
        settings = run_settings(ws, currency)
        path = resolve_store(ws, store, demo)
        loaded = load_and_print(path, ws, settings)
        launch(path, ws.root, port=port, settings=settings, loaded=loaded)
