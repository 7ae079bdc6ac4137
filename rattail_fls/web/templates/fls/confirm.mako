## -*- coding: utf-8; -*-
## Confirmation of an FLS action: what it does, then a POST (CSRF-protected) to do it.
<%inherit file="/page.mako" />

<%def name="title()">${action_title}</%def>

<%def name="page_content()">
  <b-notification type="${'is-warning' if warning else 'is-info'}" :closable="false">
    <p>${action_message}</p>
    % if warning:
        <p><strong>${warning}</strong></p>
    % endif
  </b-notification>
  ${h.form(request.current_route_url(), method='post')}
    ${h.csrf_token(request)}
    <div class="buttons">
      <a class="button" href="${cancel_url}">Cancel</a>
      <b-button type="is-primary" native-type="submit">${action_button}</b-button>
    </div>
  ${h.end_form()}
</%def>
