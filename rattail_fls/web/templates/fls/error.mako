## -*- coding: utf-8; -*-
## The app's own layout (menus, user, search) around a page that failed.
<%inherit file="/page.mako" />

<%def name="title()">${error_title}</%def>

<%def name="page_content()">
  <b-notification type="is-danger" :closable="false">
    <p><strong>${error_title}</strong></p>
    <p>${error_message}</p>
    % if backend:
        <p>This page needs the ${backend}; ask the administrator to configure it, or use another page
           from the menus above.</p>
    % else:
        <p>The error was logged. Try again in a moment, or go on from the menus above.</p>
    % endif
  </b-notification>
  <div class="buttons">
    <a class="button" href="javascript:history.back()">Go back</a>
    <a class="button is-primary" href="${url('home')}">Home</a>
  </div>
</%def>
