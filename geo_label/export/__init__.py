"""Exports for downstream programs: RFC 7946 GeoJSON and RFC 8142 GeoJSON text sequences."""
