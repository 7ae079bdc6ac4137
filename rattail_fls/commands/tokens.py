"""``rattail fls-tokens create|list|revoke``: API tokens for shops, bound to their retail points.

Only a hash of each token is stored (``fls_api_token``, see
:mod:`rattail_fls.sales.auth`): ``create`` prints the token once, and nothing
can show it again.
"""

from typing import List

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import fail, get_config, print_table
from rattail_fls.commands.corepos import runas_user
from rattail_fls.sales import auth

fls_tokens = typer.Typer(help="API tokens the shops' Odoo uses for the intake", no_args_is_help=True)
rattail_typer.add_typer(fls_tokens, name='fls-tokens')


def acting_user(ctx, session):
    """The ``--runas`` user in ``session``, or None: recorded as who created or revoked."""
    user = runas_user(ctx, None)
    return session.get(get_config(ctx).get_app().model.User, user.uuid) if user else None


@fls_tokens.command('create')
def create(ctx: typer.Context,
           username: Annotated[str, typer.Argument(help="Existing Rattail user the token acts as")],
           retail_point: Annotated[List[int], typer.Option(
               help="retail_point_id the token may submit for (repeatable)")],
           description: Annotated[str, typer.Option(help="What the token is for")] = "FLS intake"):
    """Create a token bound to retail points; prints the token once (store it in the shop's Odoo)."""
    app = get_config(ctx).get_app()
    model = app.model
    session = app.make_session()
    try:
        user = session.query(model.User).filter(model.User.username == username).one_or_none()
        if user is None:
            fail(f"user {username!r} does not exist (create it with `rattail make-user`)")
        try:
            row, token = auth.create_token(session, user, retail_point, description,
                                           created_by=acting_user(ctx, session))
        except LookupError as error:
            fail(str(error))
        session.commit()
        typer.echo(f"token {row.uuid} for {username}, retail points "
                   f"{' '.join(map(str, row.retail_point_ids))} (shown once, only its hash is kept):")
        typer.echo(token)
    finally:
        session.close()


@fls_tokens.command('list')
def list_tokens(ctx: typer.Context,
                revoked: Annotated[bool, typer.Option(
                    '--revoked', help="Also list revoked tokens")] = False):
    """Tokens with their user, retail points and last use (never the tokens themselves)."""
    app = get_config(ctx).get_app()
    token_class = app.model.FlsApiToken
    session = app.make_session()
    query = session.query(token_class).order_by(token_class.created, token_class.uuid)
    if not revoked:
        query = query.filter(token_class.revoked_at.is_(None))

    def minute(when):
        return f"{app.localtime(when):%Y-%m-%d %H:%M %Z}"

    rows = [{'token': row.uuid, 'hint': row.hint, 'user': row.user.username,
             'description': row.description, 'created': minute(row.created),
             'last_used': minute(row.last_used_at) if row.last_used_at else 'never',
             'revoked': minute(row.revoked_at) if row.revoked_at else '',
             'retail_points': ' '.join(map(str, row.retail_point_ids))} for row in query]
    columns = ['token', 'hint', 'user', 'description', 'created', 'last_used', 'retail_points']
    print_table(rows, columns + ['revoked'] if revoked else columns)
    session.close()


@fls_tokens.command('revoke')
def revoke(ctx: typer.Context, token_uuid: Annotated[str, typer.Argument(help="Token id from `list`")]):
    """Revoke a token; every intake refuses it within ``intake.auth_cache_seconds``."""
    config = get_config(ctx)
    app = config.get_app()
    session = app.make_session()
    try:
        row = session.get(app.model.FlsApiToken, token_uuid)
        if row is None:
            fail(f"token {token_uuid} does not exist")
        if row.revoked_at is not None:
            fail(f"token {token_uuid} was already revoked at {app.localtime(row.revoked_at):%Y-%m-%d %H:%M %Z}")
        auth.revoke_token(session, row, revoked_by=acting_user(ctx, session))
        session.commit()
        typer.echo(f"revoked token {token_uuid}")
    finally:
        session.close()
