"""Database models of clearance."""
