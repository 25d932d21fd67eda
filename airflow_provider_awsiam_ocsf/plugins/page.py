"""The page's HTML: server-rendered with Jinja2, every value escaped (autoescape), no build step.

Two small inline scripts, both optional: inside the 3.1+ UI the page is framed in a sandbox that
cannot navigate the window it sits in, so links to the grid are followed by the UI's own window;
and on 3.0, whose UI keeps the login token in the browser's local storage rather than in a cookie,
the page asks for itself once more with that token.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment

from airflow_provider_awsiam_ocsf.plugins.overview import InventoryPage

_ENV = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


_ENV.filters["when"] = _when

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.2rem;
       color: #1a202c; background: #fff; font-size: 14px; }
h1 { font-size: 1.35rem; margin: 0 0 .3rem; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .3rem; }
p.meta, p.note { color: #4a5568; margin: .2rem 0 .6rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .55rem; border-bottom: 1px solid #e2e8f0;
         vertical-align: top; }
th { background: #f7fafc; font-weight: 600; white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.failing td { background: #fff5f5; }
span.badge { display: inline-block; padding: 0 .45rem; border-radius: .6rem; font-size: .8rem;
             font-weight: 600; }
span.ok { background: #c6f6d5; color: #22543d; }
span.failing, span.unreadable { background: #fed7d7; color: #822727; }
span.kind { background: #edf2f7; color: #2d3748; font-weight: 400; }
a { color: #2b6cb0; text-decoration: none; }
a:hover { text-decoration: underline; }
small { color: #718096; }
"""

_FOLLOW_LINKS_IN_UI = """
document.addEventListener("click", function (e) {
  var link = e.target.closest ? e.target.closest("a[data-grid]") : null;
  if (!link || window.top === window) return;
  try {
    var top = window.top.document, a = top.createElement("a");
    a.href = link.href; top.body.appendChild(a); a.click(); a.remove(); e.preventDefault();
  } catch (err) { /* another origin: the link opens here */ }
});
"""

PAGE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>IAM inventory</title>
<style>{{ style }}</style>
</head><body>
<h1>IAM inventory</h1>
<p class="meta">What each destination holds, per account, as its state says.
Generated {{ page.generated_at | when }}; tombstones over the last {{ page.tombstone_days }} days.
<a href="{{ json_url }}">JSON</a></p>
{% if not page.dags %}
<p class="note">No inventory DAG you may read has been parsed yet
(a DAG built with <code>build_inventory_dag</code>).</p>
{% endif %}
{% for dag in page.dags %}
<section data-dag-id="{{ dag.dag_id }}">
<h2><a data-grid href="{{ dag.url }}">{{ dag.dag_id }}</a></h2>
<p class="meta">{{ dag.accounts }} account{{ "" if dag.accounts == 1 else "s" }}
{% for sink, users in dag.users_held.items() %} · {{ users }} users held by {{ sink }}{% endfor %}
{% if dag.failing %} · <span class="badge failing">{{ dag.failing }} failing</span>{% endif %}
{% if dag.last_event_run %}
 · last event-driven run <a data-grid href="{{ dag.last_event_run.url }}">{{ dag.last_event_run.when | when }}</a>
 ({{ dag.last_event_run.state }})
{% endif %}
</p>
{% if dag.rows %}
<table>
<thead><tr>
<th>Account</th><th>Sink</th><th>Users held</th><th>Incomplete</th>
<th>Tombstones ({{ page.tombstone_days }} d)</th><th>Checkpoint</th>
<th>Last successful run</th><th>Last failed run</th><th>Status</th>
</tr></thead>
<tbody>
{% for row in dag.rows %}
<tr class="{{ row.status.replace(' ', '-') }}" data-account="{{ row.account }}" data-sink="{{ row.sink }}">
<td>{{ row.account }}{% if row.aws_conn_id %}<br><small>{{ row.aws_conn_id }}</small>{% endif %}</td>
<td>{{ "all sinks" if row.sink == "*" else row.sink }}</td>
<td class="n">{{ "—" if row.users_held is none else row.users_held }}</td>
<td class="n">{{ "—" if row.incomplete_users is none else row.incomplete_users }}</td>
<td class="n">{{ "—" if row.tombstones_7d is none else row.tombstones_7d }}</td>
<td>{{ row.checkpoint | when }}</td>
<td>
{% if row.last_success %}
<a data-grid href="{{ row.last_success.url }}">{{ row.last_success.when | when }}</a>
{% if row.last_success.run_type %} <span class="badge kind">{{ row.last_success.run_type }}</span>{% endif %}
{% if row.last_success.task_url %}<br><small><a data-grid href="{{ row.last_success.task_url }}">{{ row.last_success.task_id }}</a></small>{% endif %}
{% else %}—{% endif %}
</td>
<td>
{% if row.last_failure %}
<a data-grid href="{{ row.last_failure.url }}">{{ row.last_failure.when | when }}</a>
{% if row.last_failure.run_type %} <span class="badge kind">{{ row.last_failure.run_type }}</span>{% endif %}
<br><small>{% if row.last_failure.task_url %}<a data-grid href="{{ row.last_failure.task_url }}">{{ row.last_failure.task_id }}</a>: {% endif %}{{ row.last_failure.reason }}</small>
{% else %}—{% endif %}
</td>
<td>
{% if row.status == "ok" %}<span class="badge ok">ok</span>
{% elif row.status == "failing" %}<span class="badge failing">failing</span>
{% else %}<span class="badge unreadable" title="{{ row.state_error }}">unreadable state</span>{% endif %}
</td>
</tr>
{% endfor %}
</tbody></table>
{% else %}
<p class="note">No state yet: the DAG has not delivered anything.</p>
{% endif %}
</section>
{% endfor %}
<script>{{ follow_links | safe }}</script>
</body></html>
"""
)

SIGN_IN = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>IAM inventory</title>
<style>{{ style }}</style></head><body>
<h1>IAM inventory</h1>
<p id="sign-in">{{ message }} <a href="{{ home }}">Sign in to Airflow</a>, then open this page again.</p>
<script>
(function () {
  var token = null;
  try { token = window.localStorage.getItem("token"); } catch (err) { return; }
  if (!token) return;
  fetch(window.location.href, {headers: {"Authorization": "Bearer " + token}})
    .then(function (r) { return r.ok || r.status === 403 ? r.text() : null; })
    .then(function (html) { if (html) { document.open(); document.write(html); document.close(); } });
})();
</script>
</body></html>
"""
)


def render_page(page: InventoryPage, json_url: str) -> str:
    return PAGE.render(page=page, json_url=json_url, style=_STYLE, follow_links=_FOLLOW_LINKS_IN_UI)


def render_sign_in(message: str, home: str) -> str:
    """For a browser without credentials: on Airflow 3.0 the token is in local storage."""
    return SIGN_IN.render(message=message, home=home, style=_STYLE)
