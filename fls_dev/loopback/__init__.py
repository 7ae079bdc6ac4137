"""Loopback stand-ins for the outside systems (Odoo Cloud, CORE-POS), used by tests, the demo and the benches."""
