"""The app's pages, listed in app.py (their shared helpers are app_ui.py)."""
