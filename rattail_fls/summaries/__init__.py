"""Day summaries: aggregation, closing, and pushing to Odoo."""
