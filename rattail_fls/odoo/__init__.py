"""Talking to Odoo Cloud, which receives the daily sales summaries."""
