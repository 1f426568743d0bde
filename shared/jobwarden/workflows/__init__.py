"""The seven workflows' logic, as plain functions; `functions/<name>/main.py` are thin edges."""
