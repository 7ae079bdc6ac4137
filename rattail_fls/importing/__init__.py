"""Rattail import/export handlers of the plugin."""
