"""Summaries, dashboard and treaty reports of land release (issue 7)."""
