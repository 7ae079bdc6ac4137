"""rattail-fls: a Rattail plugin for a retail operator with many shops.

Imports master data from CORE-POS, takes the shops' JSON sale orders into
sharded TimescaleDB/PostgreSQL schemas, closes days and exports summaries to
Odoo Cloud; see README.md.
"""

from setuptools import setup, find_packages

setup(
    name='rattail-fls',
    version='0.1.0',
    description="Rattail plugin: CORE-POS import, sharded sales intake, day close, Odoo export",
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.11',
    packages=find_packages(include=['rattail_fls', 'rattail_fls.*']),
    include_package_data=True,
    package_data={'rattail_fls': ['db/alembic/versions/*.py',
                                  'web/templates/**/*.mako',
                                  'web/templates/deform/*.pt',
                                  'web/static/libcache/**/*']},
    install_requires=[
        # The plugin subclasses rattail's importing framework, typer commands and
        # alembic branch layout, which change between 0.x releases: pin the
        # versions this code was written and tested against.  The [db] extra
        # keeps SQLAlchemy at the 1.4 line rattail supports.
        'rattail[db]==0.21.3',
        'rattail-corepos==0.3.10',
        'tailbone==0.23.2',
        'tailbone-corepos==0.3.2',
        # Theo is the app the plugin is installed into; its model_spec and
        # versions handler are extended by ours.
        'tailbone-theo[corepos]==0.2.4',
        # SQLAlchemy-Continuum 1.9 needs SQLAlchemy >= 1.4.53; rattail[db] caps it below 1.5.
        'SQLAlchemy>=1.4.53,<1.5',
        'alembic>=1.13',
        'psycopg2-binary>=2.9',
        # rq 2.x/3.x share the Queue/Worker/Retry API we use; 1.x lacks Retry intervals per job.
        'rq>=2.0,<4',
        # hiredis: redis-py's parser in C (a third of the intake's Redis call in Python)
        'redis[hiredis]>=5',
        'requests>=2.31',
        # the Odoo clients post through urllib3's pool directly (rattail_fls/odoo/client.py)
        'urllib3>=2',
        'certifi',
        'bcrypt>=4',
        'simplejson>=3.19',
        # the sale contract is declared on it (rattail_fls/sales/contract.py)
        'pydantic>=2.7,<3',
        # the door's fast reader of the same contract (rattail_fls/sales/contract_fast.py)
        'msgspec>=0.18',
        'waitress>=3',
        # CORE-POS office_op is MySQL/MariaDB; pure-python driver, no system libs.
        'PyMySQL>=1.1',
    ],
    extras_require={
        # the intake under gunicorn (app/intake.gunicorn.conf.py.example) instead of waitress
        'gunicorn': ['gunicorn>=23'],
        # the intake under granian (app/intake.granian.env.example)
        'granian': ['granian>=2.8'],
        # hypothesis: property-based tests;
        # selenium drives Debian's chromium + chromium-driver (tests/test_browser.py);
        # gunicorn, granian: the tests of their configurations, and bench/ingest.py --server
        'tests': ['pytest>=8', 'WebTest>=3', 'hypothesis>=6.100', 'selenium>=4.20',
                  'gunicorn>=23', 'granian>=2.8'],
    },
    entry_points={
        'wutta.config.extensions': [
            'rattail_fls = rattail_fls.config:FlsConfigExtension',
        ],
        'wutta.app.providers': [
            'rattail_fls = rattail_fls.app:FlsProvider',
        ],
        'rattail.typer_imports': [
            'rattail_fls = rattail_fls.commands',
        ],
        'rattail.importing': [
        ],
        'tailbone.providers': [
            'rattail_fls = rattail_fls.web.provider:FlsTailboneProvider',
        ],
        # The browser libraries the pages load (rattail_fls.web.weblibs), served by the app.
        'fanstatic.libraries': [
            'rattail_fls_libcache = rattail_fls.web.static:libcache',
        ],
        'paste.app_factory': [
            'main = rattail_fls.web.app:main',
            'intake = rattail_fls.web.intake:main',
        ],
    },
)
