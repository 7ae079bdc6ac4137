## -*- coding: utf-8; -*-
## The inbox grid; the rejected or dead-lettered rows checked in it can be replayed as is.
<%inherit file="/master/index.mako" />

<%def name="grid_tools()">
  ${parent.grid_tools()}
  % if master.has_perm('replay'):
      ${h.form(url('fls.inbox.replay'), method='get', class_='control')}
        <input type="hidden" name="ids" :value="checkedRowUUIDs().join(',')" />
        <b-button type="is-primary" native-type="submit" icon-pack="fas" icon-left="redo"
                  :disabled="!checkedRows.length">
          Replay checked rows
        </b-button>
      ${h.end_form()}
  % endif
</%def>
