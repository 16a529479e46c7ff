"""Geometry: validation, CRS, geodesic areas, file import/export, GeoJSON streaming, tiles, maps."""
