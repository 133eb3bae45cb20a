//! `/api/...`: the pages' data as JSON for scripts, read from the same
//! store queries (secrets masked as everywhere).

use serde::Serialize;
use serde_json::{Value, json};

use super::app::{App, Failure};
use super::http::{self, JSON, Reply};
use super::params::Query;

const RECENT: usize = 50;
const MAX_LIMIT: usize = 1000;

fn reply(value: &impl Serialize) -> Result<Reply, Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Internal(e.to_string()))?;
    let mut text = crate::secrets::redact::redact(&text).into_owned();
    text.push('\n');
    Ok(Reply::new(JSON, text))
}

/// `/api/hosts?pattern=`: every host worst first, as `herd status --format json`
/// plus its groups, firing alerts and current release.
pub fn hosts(app: &App, query: Option<&str>) -> Result<Reply, Failure> {
    let q = Query::parse(query, &["pattern"])?;
    let hosts = app.with_store(|store| -> Result<Vec<Value>, Failure> {
        let mut view = app.fleet(store, q.get("pattern"))?;
        view.rows
            .iter()
            .map(|row| {
                let mut value =
                    serde_json::to_value(row).map_err(|e| Failure::Internal(e.to_string()))?;
                value["groups"] = json!(app.groups_of(&row.host));
                value["firing"] = json!(view.firing.remove(&row.host).unwrap_or_default());
                value["release"] = json!(view.releases.get(&row.host));
                Ok(value)
            })
            .collect()
    })??;
    reply(&hosts)
}

/// `/api/hosts/NAME`: one host's status, runs, alerts, releases and audit.
pub fn host(app: &App, host: &str, query: Option<&str>) -> Result<Reply, Failure> {
    Query::parse(query, &[])?;
    let value = app.with_store(|store| -> Result<Value, Failure> {
        if !app.knows_host(store, host)? {
            return Err(Failure::NotFound(format!(
                "no host `{host}` in the inventory"
            )));
        }
        let status = crate::report::fleet::fleet_status(store, vec![host.to_string()])?;
        let mut value =
            serde_json::to_value(&status[0]).map_err(|e| Failure::Internal(e.to_string()))?;
        value["groups"] = json!(app.groups_of(host));
        value["firing"] = json!(
            crate::report::fleet::firing_by_host(store)?
                .remove(host)
                .unwrap_or_default()
        );
        value["release"] = json!(store.current_releases()?.remove(host));
        value["runs"] = json!(store.host_runs(host, RECENT)?);
        value["alerts"] = json!(store.host_alert_log(host, RECENT)?);
        value["release_steps"] = json!(
            store
                .host_release_steps(host, RECENT)?
                .into_iter()
                .map(|(run, step)| json!({"run": run, "step": step}))
                .collect::<Vec<_>>()
        );
        value["audit"] = json!(
            store
                .host_audit(host)?
                .map(|(started_at, rows)| json!({"started_at": started_at, "rows": rows}))
        );
        Ok(value)
    })??;
    reply(&value)
}

/// `/api/hosts/NAME/history?metric=M&range=24h`: points per metric (one
/// metric with `metric=`), `[unix seconds, value]` oldest first.
pub fn history(app: &App, host: &str, query: Option<&str>) -> Result<Reply, Failure> {
    let q = Query::parse(query, &["metric", "range"])?;
    let range = q.range()?;
    let metric = q.get("metric");
    let until = jiff::Timestamp::now().as_second();
    let since = until - range.seconds;
    let value = app.with_store(|store| -> Result<Value, Failure> {
        if !app.knows_host(store, host)? {
            return Err(Failure::NotFound(format!("no host `{host}` in the inventory")));
        }
        let mut series: indexmap::IndexMap<String, Vec<(i64, f64)>> = indexmap::IndexMap::new();
        for s in store.host_samples(host, since, until)? {
            if metric.is_none_or(|m| m == s.metric) {
                series.entry(s.metric).or_default().push((s.ts, s.value));
            }
        }
        Ok(json!({"host": host, "range": range.name, "since": since, "until": until, "series": series}))
    })??;
    reply(&value)
}

/// `/api/runs?limit=`: the newest runs, newest first.
pub fn runs(app: &App, query: Option<&str>) -> Result<Reply, Failure> {
    let q = Query::parse(query, &["limit"])?;
    let limit = q.count("limit", RECENT, MAX_LIMIT)?;
    reply(&app.with_store(|store| store.recent_runs(limit))??)
}

/// `/api/runs/ID`: one run with every host's result and its tasks, as
/// `herd runs show ID --format json`.
pub fn run(app: &App, id: &str, query: Option<&str>) -> Result<Reply, Failure> {
    Query::parse(query, &[])?;
    let id = http::run_id(id)?;
    let value = app.with_store(|store| -> Result<Value, Failure> {
        let detail = store
            .run(id)?
            .ok_or_else(|| Failure::NotFound(format!("no run {id}")))?;
        let mut value =
            serde_json::to_value(&detail).map_err(|e| Failure::Internal(e.to_string()))?;
        value["tasks"] = json!(store.task_results(id)?);
        Ok(value)
    })??;
    reply(&value)
}

/// `/api/alerts?limit=`: every alert state (firing or not) and the log.
pub fn alerts(app: &App, query: Option<&str>) -> Result<Reply, Failure> {
    let q = Query::parse(query, &["limit"])?;
    let limit = q.count("limit", RECENT, MAX_LIMIT)?;
    let value = app.with_store(|store| -> Result<Value, Failure> {
        Ok(json!({"states": store.alert_states()?, "log": store.alert_log(limit)?}))
    })??;
    reply(&value)
}
