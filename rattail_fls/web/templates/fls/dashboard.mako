## -*- coding: utf-8; -*-
## FLS dashboard: sales and lines per day (Chart.js from the app's libcache), per shop
## and for the chain; each bar, day and shop links to the business days behind it.
## Above it, the figures of `rattail fls-status`, each linked to its grid where one exists.
<%inherit file="/page.mako" />

<%def name="title()">FLS Dashboard${f" – {shop}" if shop else ""}</%def>

<%def name="extra_javascript()">
  ${parent.extra_javascript()}
  ${h.javascript_link(chart_js_url)}
</%def>

<%def name="health_panel()">
  <% f = health['figures'] %>
  <div class="box fls-status">
    <h2 class="title is-4">Status ${health['status_tag']}
      <span class="is-size-7 has-text-grey">(as <code>rattail fls-status</code>, ${f['checked_at'][:19].replace('T', ' ')} UTC)</span></h2>
    % for source, error in f['errors'].items():
        <p class="notification is-danger is-light fls-source-down">${source} unavailable: ${error}</p>
    % endfor
    % if health['problems']:
        <ul class="fls-problems">
          % for problem in health['problems']:
              <li>${problem['tag']} ${problem['message']}</li>
          % endfor
        </ul>
    % endif
    <div class="columns" style="margin-top: 1em;">
      <div class="column is-half">
        % if 'inbox' in f:
            <h3 class="title is-6">Inbox</h3>
            <table class="table is-narrow is-striped is-fullwidth fls-inbox-figures">
              <thead><tr><th>Retail point</th><th class="has-text-right">Pending</th><th>Oldest pending</th>
                         <th class="has-text-right">Retrying</th><th class="has-text-right">Rejected</th>
                         <th class="has-text-right">Dead-lettered</th></tr></thead>
              <tbody>
                % for row in health['inbox'] + ([health['inbox_total']] if health['inbox_total'] else []):
                    <tr>
                      <td>${'Total' if row is health['inbox_total'] else (row['retail_point_id'] if row['retail_point_id'] is not None else '(no retail point)')}</td>
                      % for key in ('pending', 'oldest', 'retrying', 'rejected', 'dead_lettered'):
                          % if key == 'oldest':
                              <td>${row['oldest']}</td>
                          % else:
                              <td class="has-text-right"><a href="${row['links'][key]}">${row[key]}</a></td>
                          % endif
                      % endfor
                    </tr>
                % endfor
                % if not health['inbox']:
                    <tr><td colspan="6">Nothing pending, rejected or dead-lettered.</td></tr>
                % endif
              </tbody>
            </table>
            <h3 class="title is-6">Summaries and days</h3>
            <table class="table is-narrow is-fullwidth fls-summary-figures">
              <tbody>
                % for label, count, link in health['summaries']:
                    <tr><td>Summaries ${label}</td><td class="has-text-right"><a href="${link}">${count}</a></td></tr>
                % endfor
                <tr><td>Stale days (closed, then changed, before yesterday)</td>
                    <td class="has-text-right"><a href="${health['day_closes_url']}">${f['days']['stale']}</a></td></tr>
                <tr><td>Days never closed (before yesterday)</td>
                    <td class="has-text-right">${f['days']['unclosed']}</td></tr>
              </tbody>
            </table>
            <h3 class="title is-6">Shops gone quiet</h3>
            % if health['quiet']:
                <ul class="fls-quiet">
                  % for shop in health['quiet']:
                      <li><a href="${shop['url']}">retail point ${shop['retail_point_id']}</a>: no sale for ${shop['quiet']}</li>
                  % endfor
                </ul>
            % else:
                <p>None.</p>
            % endif
        % endif
      </div>
      <div class="column is-half">
        % if 'queues' in f:
            <h3 class="title is-6">RQ queues</h3>
            <table class="table is-narrow is-striped is-fullwidth fls-queue-figures">
              <thead><tr><th>Queue</th><th class="has-text-right">Queued</th><th class="has-text-right">Started</th>
                         <th class="has-text-right">Scheduled</th><th class="has-text-right">Failed jobs</th></tr></thead>
              <tbody>
                % for queue in f['queues']:
                    <tr><td>${queue['name']}</td><td class="has-text-right">${queue['queued']}</td>
                        <td class="has-text-right">${queue['started']}</td>
                        <td class="has-text-right">${queue['scheduled']}</td>
                        <td class="has-text-right">${queue['failed']}</td></tr>
                % endfor
              </tbody>
            </table>
            <p class="fls-workers">RQ workers alive: <strong>${len(f['workers'])}</strong></p>
            % if f['workers']:
                <ul>
                  % for worker in f['workers']:
                      <li>${worker['name']} (${', '.join(worker['queues'])}): ${worker['state']}${f", {worker['current_job']}" if worker['current_job'] else ''}</li>
                  % endfor
                </ul>
            % endif
        % else:
            <p>RQ queues and workers: unknown while Redis is unavailable.</p>
        % endif
      </div>
    </div>
  </div>
</%def>

<%def name="page_content()">
  <div class="fls-dashboard">
    ${health_panel()}
    <div class="level">
      <div class="level-left">
        <h2 class="title is-4">
          Sales and lines per day, ${period[0].strftime('%d %b')} – ${period[1].strftime('%d %b %Y')}:
          % if shop:
              retail point ${shop}
              (<a href="${url('home')}">whole chain</a>)
          % else:
              <a href="${chain_url}">whole chain</a>
          % endif
        </h2>
      </div>
    </div>

    <div style="position: relative; height: 320px; max-width: 1100px;">
      <canvas id="fls-daily-chart" aria-label="Sales and lines per day" role="img"></canvas>
    </div>

    <div class="columns" style="margin-top: 1.5em;">
      <div class="column is-half">
        <table class="table is-narrow is-striped is-fullwidth fls-daily">
          <thead><tr><th>Day</th><th class="has-text-right">Sales</th><th class="has-text-right">Lines</th></tr></thead>
          <tbody>
            % for day in reversed(series):
                <tr>
                  <td><a href="${day['url']}">${day['label']}</a></td>
                  <td class="has-text-right"><a href="${day['url']}">${day['sales']}</a></td>
                  <td class="has-text-right"><a href="${day['url']}">${day['lines']}</a></td>
                </tr>
            % endfor
          </tbody>
        </table>
      </div>
      <div class="column is-half">
        <table class="table is-narrow is-striped is-fullwidth fls-shops">
          <thead><tr><th>Retail point</th><th class="has-text-right">Sales (30 days)</th>
                     <th class="has-text-right">Lines</th><th></th></tr></thead>
          <tbody>
            % for row in shops:
                <tr>
                  <td>${h.link_to(str(row['point']), url('fls.retail_points.view', uuid=row['point'].uuid))}
                      % if not row['point'].active:
                          <span class="tag is-light">inactive</span>
                      % endif
                  </td>
                  <td class="has-text-right"><a href="${row['url']}">${row['sales']}</a></td>
                  <td class="has-text-right"><a href="${row['url']}">${row['lines']}</a></td>
                  <td><a href="${row['dashboard_url']}">chart</a></td>
                </tr>
            % endfor
          </tbody>
        </table>
      </div>
    </div>
  </div>
</%def>

<%def name="modify_vue_vars()">
  ${parent.modify_vue_vars()}
  <script>
    ThisPage.mounted = function() {
        const series = ${series_json|n}
        const chart = new Chart(document.getElementById('fls-daily-chart'), {
            data: {
                labels: series.map(day => day.label),
                datasets: [
                    {type: 'bar', label: 'Sales', data: series.map(day => day.sales),
                     backgroundColor: 'rgba(121, 87, 213, 0.6)', yAxisID: 'sales'},
                    {type: 'line', label: 'Lines', data: series.map(day => day.lines),
                     borderColor: 'rgb(230, 126, 34)', backgroundColor: 'rgb(230, 126, 34)',
                     tension: 0.2, yAxisID: 'lines'},
                ],
            },
            options: {
                maintainAspectRatio: false,
                animation: false,
                scales: {
                    sales: {type: 'linear', position: 'left', beginAtZero: true,
                            title: {display: true, text: 'sales'}},
                    lines: {type: 'linear', position: 'right', beginAtZero: true,
                            grid: {drawOnChartArea: false}, title: {display: true, text: 'lines'}},
                },
                // a bar or point opens the business days of that date
                onClick: (event, elements) => {
                    if (elements.length) {
                        window.location.href = series[elements[0].index].url
                    }
                },
            },
        })
        window.flsDailyChart = chart
    }
  </script>
</%def>
