"""rattail-fls: Rattail plugin for FLS retail points (sales intake, shards, day close, Odoo export)."""

__version__ = '0.1.0'
