## -*- coding: utf-8; -*-
## FLS dashboard: sales and lines per day (Chart.js from the app's libcache), per shop
## and for the chain; each bar, day and shop links to the business days behind it.
<%inherit file="/page.mako" />

<%def name="title()">FLS Dashboard${f" – {shop}" if shop else ""}</%def>

<%def name="extra_javascript()">
  ${parent.extra_javascript()}
  ${h.javascript_link(chart_js_url)}
</%def>

<%def name="page_content()">
  <div class="fls-dashboard">
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
