"""SafeGround: mine-action operations and hazard tracking on PostGIS."""

__version__ = "0.1.0"
