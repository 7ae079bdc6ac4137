## -*- coding: utf-8; -*-
## A shop API token's page; right after creation it carries the token, this once.
<%inherit file="/master/view.mako" />

<%def name="page_content()">
  % if new_token:
      <b-notification type="is-warning" :closable="false">
        <p>
          The new token, shown this once (only its hash is kept): put it in the
          shop's Odoo now, as the header <code>Authorization: Token &lt;token&gt;</code>.
        </p>
        <pre id="fls-new-token">${new_token}</pre>
      </b-notification>
  % endif
  % if instance.revoked_at:
      <b-notification type="is-danger" :closable="false">
        This token is revoked: the intake refuses it.
      </b-notification>
  % endif
  ${parent.page_content()}
</%def>

<%def name="object_helpers()">
  ${parent.object_helpers()}
  % if master.has_perm('revoke') and not instance.revoked_at:
      <nav class="panel">
        <p class="panel-heading">Token</p>
        <div class="panel-block">
          <b-button type="is-danger" tag="a"
                    href="${master.get_action_url('revoke', instance)}">
            Revoke
          </b-button>
        </div>
      </nav>
  % endif
</%def>
