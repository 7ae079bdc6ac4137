"""The plugin's models.

Main-DB models: ``shards`` (registry), ``retail_points`` (and later issues'
tables), star-imported by the app's model module ``rattail_fls.db.model_theo``.
Shard models: ``sales``, on their own metadata.

This package imports nothing itself: importing ``sales`` (as workers do) must
not map the main-DB classes before Continuum versioning is configured.
"""
