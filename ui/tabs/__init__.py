"""The app's tabs, laid out and wired to their handlers (ui.handlers), one module per tab:
`assistant`, `brief`, `customers`, `approvals`, `data` and `settings`. Layout and event wiring
only: every action a tab offers is a handler's call into agent/, which the CLI can make too.
`ui.app.build_app` puts them together.
"""
