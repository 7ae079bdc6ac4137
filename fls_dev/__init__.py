"""Development tooling of the rattail-fls checkout: loopback CORE-POS and Odoo, throwaway
databases and configs for the tests, the benches and the demo.

Not part of the installed package (``setup.py`` packages only ``rattail_fls``): the tests,
benches and scripts import it from the checkout.
"""
