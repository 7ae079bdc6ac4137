"""Shops' API tokens: list, create (the token is shown once), revoke; last use, bound retail points.

The permissions (``fls.api_tokens.list``, ``.view``, ``.create``, ``.revoke``)
belong to no role by default: only administrators have them until one grants
them.  Tokens go through :mod:`rattail_fls.sales.auth`, as with ``rattail
fls-tokens``; a revoked token is kept (and listed when the filter asks for it).
"""

import colander
from deform import widget as dfwidget
from sqlalchemy import orm

from rattail.db import model
from tailbone.views import MasterView

from rattail_fls import config as fls_config
from rattail_fls.db.model.retail_points import FlsRetailPoint
from rattail_fls.db.model.tokens import FlsApiToken
from rattail_fls.sales import auth

TIMES = ('created', 'last_used_at', 'revoked_at')


class ApiTokenView(MasterView):
    """Master view for :class:`FlsApiToken`; never editable (make a new token, revoke the old)."""

    model_class = FlsApiToken
    url_prefix = '/fls/api-tokens'
    route_prefix = 'fls.api_tokens'
    editable = False
    deletable = False

    labels = {
        'hint': "Token Starts With",
        'retail_point_ids': "Retail Points",
        'last_used_at': "Last Used",
        'revoked_at': "Revoked",
        'user_uuid': "User",
    }

    grid_columns = ['hint', 'description', 'user', 'retail_point_ids', 'created', 'last_used_at', 'revoked_at']
    form_fields = ['hint', 'description', 'user', 'retail_point_ids', 'created', 'created_by', 'last_used_at',
                   'revoked_at', 'revoked_by']
    create_fields = ['user_uuid', 'retail_point_ids', 'description']

    #: The token made by this request's create, shown on the page that answers it and never again.
    new_token = None

    def query(self, session):
        return super().query(session).options(orm.selectinload(FlsApiToken.bindings))

    def configure_grid(self, g):
        super().configure_grid(g)
        g.set_sort_defaults('created', 'desc')
        g.set_link('hint')
        g.set_link('description')
        g.set_joiner('user', lambda q: q.join(model.User, model.User.uuid == FlsApiToken.user_uuid))
        g.set_sorter('user', model.User.username)
        g.set_filter('user', model.User.username)
        g.filters['revoked_at'].default_active = True
        g.filters['revoked_at'].default_verb = 'is_null'
        g.set_renderer('retail_point_ids', self.render_retail_points)
        for key in TIMES:
            g.set_renderer(key, self.render_time)

    def configure_form(self, f):
        super().configure_form(f)
        if not self.creating:
            f.set_renderer('retail_point_ids', self.render_retail_points)
            for key in TIMES:
                f.set_renderer(key, self.render_time)
            return
        f.set_fields(self.create_fields)
        users = self.Session.query(model.User).filter(model.User.active).order_by(model.User.username)
        f.set_widget('user_uuid', dfwidget.SelectWidget(values=[(u.uuid, u.username) for u in users]))
        f.set_helptext('user_uuid', "The token acts as this user (e.g. the shop's own user).")
        points = self.Session.query(FlsRetailPoint).order_by(FlsRetailPoint.retail_point_id).all()
        f.set_node('retail_point_ids', colander.Set(), validator=self.valid_retail_points)
        f.set_widget('retail_point_ids', dfwidget.SelectWidget(
            multiple=True, size=min(max(len(points), 3), 15),
            values=[(str(p.retail_point_id), str(p)) for p in points]))
        f.set_helptext('retail_point_ids', "Retail points the token may send sales and day closes for.")
        f.set_default('description', "FLS intake")

    def valid_retail_points(self, node, value):
        if not value:
            raise colander.Invalid(node, "Choose at least one retail point")
        ids = {int(v) for v in value}
        known = {rp for (rp,) in self.Session.query(FlsRetailPoint.retail_point_id)
                 .filter(FlsRetailPoint.retail_point_id.in_(ids))}
        if ids - known:
            raise colander.Invalid(node, f"Unknown retail points: {', '.join(map(str, sorted(ids - known)))}")

    def render_retail_points(self, token, field):
        return ' '.join(map(str, token.retail_point_ids))

    def render_time(self, token, field):
        """In the app's time zone, with the zone shown."""
        value = getattr(token, field)
        if value is None:
            return "never" if field == 'last_used_at' else ""
        return f"{self.app.localtime(value):%Y-%m-%d %H:%M %Z}"

    def save_create_form(self, form):
        data = form.validated
        user = self.Session.get(model.User, data['user_uuid'])
        token, self.new_token = auth.create_token(self.Session(), user, [int(v) for v in data['retail_point_ids']],
                                                  data['description'], created_by=self.request.user)
        return token

    def redirect_after_create(self, token, **kwargs):
        """Answer with the token's page, carrying the token this once (never cached)."""
        self.creating = False
        response = self.view(token)
        response.headers['Cache-Control'] = 'no-store'
        return response

    def template_kwargs_view(self, **kwargs):
        kwargs['new_token'] = self.new_token
        kwargs['cache_seconds'] = fls_config.get_number(self.rattail_config, 'intake.auth_cache_seconds')
        return kwargs

    template_kwargs_revoke = template_kwargs_view

    def revoke(self):
        """Confirmation page (GET), then the revocation (POST)."""
        token = self.get_instance()
        if token.revoked_at is not None:
            self.request.session.flash(f"Token {token} is already revoked.", 'error')
            return self.redirect(self.get_action_url('view', token))
        if self.request.method == 'POST':
            auth.revoke_token(self.Session(), token, revoked_by=self.request.user)
            self.request.session.flash(f"Token {token} is revoked.")
            return self.redirect(self.get_action_url('view', token))
        self.viewing = True
        form = self.make_form(token)
        form.readonly = True
        return self.render_to_response('revoke', {
            'instance': token, 'instance_title': self.get_instance_title(token), 'form': form})

    @classmethod
    def defaults(cls, config):
        cls._defaults(config)
        route_prefix, permission_prefix = cls.get_route_prefix(), cls.get_permission_prefix()
        config.add_tailbone_permission(permission_prefix, f'{permission_prefix}.revoke',
                                       "Revoke Shop API Tokens")
        config.add_route(f'{route_prefix}.revoke', f'{cls.get_instance_url_prefix()}/revoke')
        config.add_view(cls, attr='revoke', route_name=f'{route_prefix}.revoke',
                        permission=f'{permission_prefix}.revoke')


def defaults(config, **kwargs):
    kwargs.get('ApiTokenView', ApiTokenView).defaults(config)


def includeme(config):
    defaults(config)
