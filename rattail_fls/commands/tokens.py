"""``rattail fls-tokens create|list|revoke``: API tokens for shops, bound to their retail points."""

from typing import List

import typer
from typing_extensions import Annotated

from rattail.commands import rattail_typer

from rattail_fls.commands.base import fail, get_config, print_table

fls_tokens = typer.Typer(help="API tokens the shops' Odoo uses for the intake", no_args_is_help=True)
rattail_typer.add_typer(fls_tokens, name='fls-tokens')


@fls_tokens.command('create')
def create(ctx: typer.Context,
           username: Annotated[str, typer.Argument(help="Existing Rattail user the token acts as")],
           retail_point: Annotated[List[int], typer.Option(
               help="retail_point_id the token may submit for (repeatable)")],
           description: Annotated[str, typer.Option(help="What the token is for")] = "FLS intake"):
    """Create a token bound to retail points; prints the token once (store it in the shop's Odoo)."""
    config = get_config(ctx)
    app = config.get_app()
    model = app.model
    session = app.make_session()
    user = session.query(model.User).filter(model.User.username == username).one_or_none()
    if user is None:
        fail(f"user {username!r} does not exist (create it with `rattail make-user`)")
    known = {rp for (rp,) in session.query(model.FlsRetailPoint.retail_point_id)
             .filter(model.FlsRetailPoint.retail_point_id.in_(retail_point))}
    unknown = sorted(set(retail_point) - known)
    if unknown:
        fail(f"unknown retail points: {', '.join(map(str, unknown))}")
    token = app.get_auth_handler().add_api_token(user, description)
    session.flush()
    for rp in sorted(set(retail_point)):
        session.add(model.FlsTokenRetailPoint(token_uuid=token.uuid, retail_point_id=rp))
    session.commit()
    typer.echo(f"token {token.uuid} for {username}, retail points {', '.join(map(str, sorted(known)))}:")
    typer.echo(token.token_string)
    session.close()


@fls_tokens.command('list')
def list_tokens(ctx: typer.Context):
    """Tokens with a binding, their user and retail points (never the token strings)."""
    config = get_config(ctx)
    app = config.get_app()
    model = app.model
    session = app.make_session()
    rows = {}
    query = session.query(model.UserAPIToken, model.FlsTokenRetailPoint.retail_point_id)\
                   .join(model.FlsTokenRetailPoint,
                         model.FlsTokenRetailPoint.token_uuid == model.UserAPIToken.uuid)
    for token, rp in query:
        row = rows.setdefault(token.uuid, {'token': token.uuid, 'user': token.user.username,
                                           'description': token.description,
                                           'created': f"{token.created:%Y-%m-%d %H:%M}", 'retail_points': []})
        row['retail_points'].append(rp)
    for row in rows.values():
        row['retail_points'] = ' '.join(map(str, sorted(row['retail_points'])))
    print_table(list(rows.values()), ['token', 'user', 'description', 'created', 'retail_points'])
    session.close()


@fls_tokens.command('revoke')
def revoke(ctx: typer.Context, token_uuid: Annotated[str, typer.Argument(help="Token id from `list`")]):
    """Delete a token (its bindings go with it); the shop's next request gets 401."""
    config = get_config(ctx)
    app = config.get_app()
    session = app.make_session()
    token = session.get(app.model.UserAPIToken, token_uuid)
    if token is None:
        fail(f"token {token_uuid} does not exist")
    app.get_auth_handler().delete_api_token(token)
    session.commit()
    typer.echo(f"revoked token {token_uuid}")
    session.close()
