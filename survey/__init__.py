"""Hazard areas and non-technical survey."""
