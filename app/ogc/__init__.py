"""OGC API – Features and Tiles."""
