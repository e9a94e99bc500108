"""GeoLabel core domain: projects, images, chips, annotations, storage, export and the CLI."""

__version__ = "0.1.0"
