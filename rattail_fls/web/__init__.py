"""Tailbone web app for Theo with rattail-fls: the app factory, the menu provider and the views."""
