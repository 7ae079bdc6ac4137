## -*- coding: utf-8; -*-
## One sale from its shard: header, lines, lots, misc lots; inbox history; day and summary.
<%inherit file="/page.mako" />

<%def name="title()">${sale_title}</%def>

<%def name="rows_table(css, columns, rows, money_columns=())">
  <table class="table is-narrow is-striped is-fullwidth ${css}">
    <thead><tr>
      % for key, label in columns:
          <th class="${'has-text-right' if key in money_columns else ''}">${label}</th>
      % endfor
    </tr></thead>
    <tbody>
      % for row in rows:
          <tr>
            % for key, label in columns:
                % if key in money_columns:
                    <td class="has-text-right">${money(getattr(row, key))}</td>
                % else:
                    <td>${'' if getattr(row, key) is None else getattr(row, key)}</td>
                % endif
            % endfor
          </tr>
      % endfor
    </tbody>
  </table>
</%def>

<%def name="page_content()">
  <div class="buttons">
    ${h.link_to("Business day", day_url, class_='button')}
    % if summary:
        ${h.link_to(f"Summary {summary.sale_num} (version {summary.version}, {summary.status})",
                    url('fls.summaries.view', uuid=summary.uuid), class_='button')}
    % else:
        <span class="tag is-warning">no summary yet (the day is not closed)</span>
    % endif
    ${h.link_to(f"Retail point {point}", url('fls.retail_points.view', uuid=point.uuid), class_='button')}
  </div>

  <table class="table is-narrow fls-sale">
    <tr><th>Sale num</th><td>${sale.sale_num}</td><th>Total</th><td>${money(sale.total_including_miscellaneous)}</td></tr>
    <tr><th>Counter</th><td>${sale.sale_counter_name or ''} (${sale.sale_counter_id})</td>
        <th>Payment</th><td>${sale.payment_method_name or ''} (journal ${sale.payment_journal_id})</td></tr>
    <tr><th>Confirmed</th><td>${sale.confirmed_on or ''} (shop time) by ${sale.confirmed_by_name or ''}</td>
        <th>Customer</th><td>${sale.customer_name or ''}</td></tr>
    <tr><th>Cess</th><td>${money(sale.total_cess)}</td><th>Stored</th><td>${time(sale.stored_at)}</td></tr>
    % if sale.miscellaneous_product_id:
        <tr><th>Miscellaneous</th><td colspan="3">product ${sale.miscellaneous_product_id}:
            ${sale.miscellaneous_qty} × ${money(sale.miscellaneous_sale_price)}
            (invoice ${sale.miscellaneous_invoice_num or ''})</td></tr>
    % endif
  </table>

  <h3 class="title is-5">Lines (${len(lines)})</h3>
  ${rows_table('fls-lines', [('line_no', "#"), ('product_id', "Product"), ('name', "Name"),
                             ('product_uom_qty', "Qty"), ('price_unit', "Unit price"),
                             ('retail_sale_mrp', "MRP"), ('vat_percent', "VAT %"), ('total_cess', "Cess")],
               lines, money_columns=('price_unit', 'retail_sale_mrp', 'total_cess'))}

  <h3 class="title is-5">Lots (${len(lots)})</h3>
  ${rows_table('fls-lots', [('lot_no', "#"), ('product_id', "Product"), ('product_name', "Name"),
                            ('lot_name', "Lot"), ('quantity', "Qty")], lots)}

  <h3 class="title is-5">Miscellaneous lots (${len(misc_lots)})</h3>
  ${rows_table('fls-misc-lots', [('lot_no', "#"), ('product_id', "Product"), ('product_name', "Name"),
                                 ('lot_name', "Lot"), ('quantity', "Qty")], misc_lots)}

  <h3 class="title is-5">Inbox history (every payload received for this sale)</h3>
  <table class="table is-narrow is-striped is-fullwidth fls-history">
    <thead><tr><th>Inbox row</th><th>Received</th><th>Source</th><th>Status</th><th>Errors</th></tr></thead>
    <tbody>
      % for row in history:
          <tr>
            <td>${h.link_to(str(row.id), url('fls.inbox.view', id=row.id))}</td>
            <td>${time(row.received_at)}</td>
            <td>${row.source}</td>
            <td>${tag(row.status)}</td>
            <td>${row.errors or ''}</td>
          </tr>
      % endfor
    </tbody>
  </table>
</%def>
