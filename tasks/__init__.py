"""Task planning and explosive ordnance disposal (EOD)."""
