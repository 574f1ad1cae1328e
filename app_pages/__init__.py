"""The app's pages (listed in app.py) and their shared helpers (app_pages/ui.py)."""
