//! A timer task that syncs from ONES and keeps what it saw in entity
//! storage, and a route that reads it back by index.

use op_plugin_sdk::storage::{self, Condition};
use op_plugin_sdk::{Logger, OPFetch, PluginError, PluginRequest, PluginResponse, json};

/// Where each tick reads ONES.
const SOURCE: &str = "/users/me";

/// `sync-timer`, every 5 s: reads ONES as the super-admin (no user calls a
/// tick) and stores the answer under the tick's due time.
fn sync_now(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let tick = req.json_value().unwrap_or_default();
    let at = tick["scheduledAtMs"].as_i64().unwrap_or_default();
    let answer = OPFetch::get(SOURCE).send()?;
    let body: String = String::from_utf8_lossy(&answer.body)
        .chars()
        .take(1000)
        .collect();
    storage::entity("snapshot").set(
        &format!("{SOURCE}@{at}"),
        &json!({
            "source": SOURCE,
            "at": at,
            "status": answer.status,
            "manual": tick["manual"].as_bool().unwrap_or(false),
            "body": body,
        }),
    )?;
    Logger::info(format!("synced {SOURCE}: {}", answer.status));
    Ok(PluginResponse::empty())
}

/// `GET /timer-sync/history?limit=N&since=MS`: the latest snapshots, newest
/// first.
fn history(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let limit = req
        .query("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    let since: i64 = req.query("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let page = storage::entity("snapshot")
        .query()
        .index("by_time", [json!(SOURCE)])
        .condition(Condition::GreaterOrEqual(json!(since)))
        .descending()
        .limit(limit)
        .get_many()?;
    let snapshots: Vec<_> = page
        .data
        .iter()
        .map(|e| json!({ "at": e.value["at"], "status": e.value["status"], "manual": e.value["manual"] }))
        .collect();
    Ok(PluginResponse::json(&json!({
        "snapshots": snapshots,
        "more": page.page_info.has_more,
    })))
}

op_plugin_sdk::export_functions! {
    sync_now as "syncNow",
    history,
}

#[cfg(test)]
mod tests {
    use op_plugin_sdk::testing::{Attribute, Entity, Index, MockHost};
    use op_plugin_sdk::{FetchResponse, PluginRequest, json};

    use super::*;

    /// The mock host with the `snapshot` entity of plugin.yaml.
    fn host() -> MockHost {
        MockHost::new()
            .entity(
                Entity::new("snapshot")
                    .with(Attribute::string("source", 64).required())
                    .with(Attribute::integer("at").required())
                    .with(Attribute::integer("status"))
                    .with(Attribute::boolean("manual").default_value(json!(false)))
                    .with(Attribute::text("body"))
                    .with_index(Index::new("by_time", "at").partition(["source"])),
            )
            .on_fetch(
                "GET",
                "/users/me",
                FetchResponse::from_json(200, &json!({ "uuid": "ADMIN001" })),
            )
    }

    fn tick(at: i64) -> PluginRequest {
        PluginRequest {
            method: "POST".into(),
            body: json!({ "scheduledAtMs": at, "manual": false })
                .to_string()
                .into_bytes(),
            ..Default::default()
        }
    }

    #[test]
    fn each_tick_keeps_a_snapshot_and_history_lists_them_newest_first() {
        let host = host();
        for at in [1000, 6000, 11000] {
            sync_now(tick(at)).unwrap();
        }
        assert!(host.fetches().iter().all(|f| f.root), "as the super-admin");
        let res = history(PluginRequest::get("/timer-sync/history?limit=2")).unwrap();
        assert_eq!(
            res.body_json(),
            json!({
                "snapshots": [
                    { "at": 11000, "status": 200, "manual": false },
                    { "at": 6000, "status": 200, "manual": false },
                ],
                "more": true,
            })
        );
        let res = history(PluginRequest::get("/timer-sync/history?since=6000")).unwrap();
        assert_eq!(res.body_json()["snapshots"].as_array().unwrap().len(), 2);
    }
}
