## -*- coding: utf-8; -*-
## Confirmation before a shop API token is revoked.
<%inherit file="/form.mako" />

<%def name="title()">Revoke ${model_title}: ${instance_title}</%def>

<%def name="render_form()">
  <br />
  <b-notification type="is-danger" :closable="false">
    You are about to revoke this token.  The shop's requests with it are
    refused by every intake within ${'{:g}'.format(cache_seconds)} seconds, and it cannot
    be restored: the shop will need a new token.
  </b-notification>
  ${parent.render_form()}
</%def>

<%def name="render_form_buttons()">
  <br />
  ${h.form(request.current_route_url())}
  ${h.csrf_token(request)}
    <div class="buttons">
      <b-button tag="a" href="${master.get_action_url('view', instance)}">
        Keep it
      </b-button>
      <b-button type="is-primary is-danger" native-type="submit">
        Revoke Token
      </b-button>
    </div>
  ${h.end_form()}
</%def>
