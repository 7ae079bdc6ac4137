## -*- coding: utf-8; -*-
## Replaying inbox rows as they are: choose (a shop and statuses, or rows by id), see how
## many rows that is, then a POST (CSRF-protected) to replay them.
<%inherit file="/page.mako" />

<%def name="title()">Replay inbox rows</%def>

<%def name="page_content()">
  % if not ids:
      ${h.form(request.route_url('fls.inbox.replay'), method='get')}
        <div class="field">
          <label class="label" for="retail_point_id">Retail point</label>
          <div class="select">
            <select name="retail_point_id" id="retail_point_id">
              <option value="">(choose a retail point)</option>
              % for point, rows in shops:
                  <option value="${point}" ${'selected' if point == retail_point_id else ''}>${point} (${rows} rows)</option>
              % endfor
            </select>
          </div>
        </div>
        <div class="field">
          % for status, label in status_labels.items():
              <label class="checkbox">
                <input type="checkbox" name="status" value="${status}" ${'checked' if status in statuses else ''} />
                ${label}
              </label>
          % endfor
        </div>
        <div class="buttons">
          <b-button native-type="submit">Count the rows</b-button>
        </div>
      ${h.end_form()}
      <br />
  % endif
  % if chosen:
      <b-notification type="${'is-warning' if total else 'is-info'}" :closable="false">
        % if total:
            <p>
              ${total} ${'row' if total == 1 else 'rows'}
              (${', '.join(f"{counts[s]} {status_labels[s]}" for s in status_labels if s in counts)})
              % if ids:
                  of the ${len(ids)} chosen (${', '.join(str(i) for i in ids[:20])}${' ...' if len(ids) > 20 else ''})
              % endif
              % if retail_point_id is not None:
                  of retail point ${retail_point_id}
              % endif
              will be put back through the contract as they are: valid ones are queued again
              for the workers, ones still invalid stay rejected with the new reasons.
            </p>
        % else:
            <p>No rejected or dead-lettered row matches: nothing to replay.</p>
        % endif
      </b-notification>
      % if total:
          ${h.form(request.route_url('fls.inbox.replay'), method='post')}
            ${h.csrf_token(request)}
            % if ids:
                ${h.hidden('ids', value=','.join(str(i) for i in ids))}
            % endif
            % if retail_point_id is not None:
                ${h.hidden('retail_point_id', value=retail_point_id)}
            % endif
            % for status in statuses:
                <input type="hidden" name="status" value="${status}" />
            % endfor
            <div class="buttons">
              <a class="button" href="${index_url}">Cancel</a>
              <b-button type="is-primary" native-type="submit">Replay ${total} ${'row' if total == 1 else 'rows'}</b-button>
            </div>
          ${h.end_form()}
      % endif
  % endif
</%def>
