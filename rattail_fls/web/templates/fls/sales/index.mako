## -*- coding: utf-8; -*-
## A shop's sales from its shard: date range + filters, newest first, keyset pages.
<%inherit file="/page.mako" />

<%def name="title()">Sales${f" of retail point {point}" if point else ""}</%def>

<%def name="page_content()">
  <form method="get" action="${url('fls.sales')}" class="fls-sales-filters">
    <div class="columns is-multiline">
      <div class="column is-3">
        <b-field label="Retail point" ${'type="is-danger"' if 'retail_point_id' in errors else ''|n}
                 message="${errors.get('retail_point_id', '')}">
          <b-select name="retail_point_id" value="${params.get('retail_point_id', '')}" expanded>
            <option value="">(choose)</option>
            % for p in points:
                <option value="${p.retail_point_id}" ${'selected' if str(p.retail_point_id) == params.get('retail_point_id') else ''}>${p}</option>
            % endfor
          </b-select>
        </b-field>
      </div>
      % for key, label in (('date_from', "From"), ('date_to', "To")):
          <div class="column is-2">
            <b-field label="${label}" ${'type="is-danger"' if key in errors else ''|n} message="${errors.get(key, '')}">
              <b-input name="${key}" type="date" value="${params.get(key, '')}"></b-input>
            </b-field>
          </div>
      % endfor
      % for key, (label, parse) in filter_fields.items():
          <div class="column is-2">
            <b-field label="${label}" ${'type="is-danger"' if key in errors else ''|n} message="${errors.get(key, '')}">
              <b-input name="${key}" value="${params.get(key, '')}"></b-input>
            </b-field>
          </div>
      % endfor
      <div class="column is-2" style="align-self: flex-end;">
        <b-button type="is-primary" native-type="submit" icon-pack="fas" icon-left="search">Show sales</b-button>
      </div>
    </div>
    % if 'after' in errors:
        <b-notification type="is-danger" :closable="false">${errors['after']}</b-notification>
    % endif
  </form>

  % if sales is not None:
      % if sales:
          <table class="table is-narrow is-striped is-hoverable is-fullwidth fls-sales">
            <thead><tr><th>Date</th><th>Sale num</th><th>Counter</th><th>Journal</th><th>Confirmed</th>
                       <th>Customer</th><th class="has-text-right">Total</th></tr></thead>
            <tbody>
              % for sale in sales:
                  <tr>
                    <td>${sale.sale_date.strftime('%a %d %b %Y')}</td>
                    <td>${h.link_to(sale.sale_num, view_url(sale))}</td>
                    <td>${sale.sale_counter_name or ''} (${sale.sale_counter_id})</td>
                    <td>${sale.payment_method_name or ''} (${sale.payment_journal_id})</td>
                    <td>${sale.confirmed_on.strftime('%H:%M:%S') if sale.confirmed_on else ''}</td>
                    <td>${sale.customer_name or ''}</td>
                    <td class="has-text-right">${money(sale.total_including_miscellaneous)}</td>
                  </tr>
              % endfor
            </tbody>
          </table>
      % else:
          <p class="fls-no-sales">No sale of retail point ${point} matches.</p>
      % endif
      <div class="buttons">
        % if first_url:
            <a class="button" href="${first_url}">Newest</a>
        % endif
        % if next_url:
            <a class="button is-primary fls-next" href="${next_url}">Older sales</a>
        % endif
      </div>
  % endif
</%def>
