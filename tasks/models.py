"""Database models of tasks."""
