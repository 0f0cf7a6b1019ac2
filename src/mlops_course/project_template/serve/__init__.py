"""The project's prediction service (serve/app.py)."""
