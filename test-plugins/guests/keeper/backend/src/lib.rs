//! Entity storage for the host's tests: each storage operation behind a
//! route. A storage error answers 400 (the rules refused) or 503 (the
//! database is unavailable) with the host's message as the reason.

use op_plugin_sdk::storage::{self, Condition, StorageError};
use op_plugin_sdk::{PluginError, PluginRequest, PluginResponse, json};
use serde::Deserialize;
use serde_json::Value;

fn refused(err: StorageError) -> PluginError {
    let status = match err {
        StorageError::Unavailable(_) => 503,
        _ => 400,
    };
    PluginError::new(status, err.to_string()).with_kind("storage")
}

/// `GET|POST|DELETE /records/:entity/:key`: get, set (the body), delete.
fn record(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let entity = storage::entity(req.param("entity").unwrap_or_default());
    let key = req.param("key").unwrap_or_default().to_string();
    match req.method.as_str() {
        "GET" => match entity.get(&key).map_err(refused)? {
            Some(value) => Ok(PluginResponse::json(&json!({ "key": key, "value": value }))),
            None => Err(PluginError::not_found(format!("no record `{key}`"))),
        },
        "POST" => {
            let value: Value = req.json_value()?;
            entity.set(&key, &value).map_err(refused)?;
            Ok(PluginResponse::json(&json!({ "set": key })))
        }
        _ => {
            let deleted = entity.delete(&key).map_err(refused)?;
            Ok(PluginResponse::json(&json!({ "deleted": deleted })))
        }
    }
}

#[derive(Deserialize)]
struct Item {
    key: String,
    value: Value,
}

/// `POST /batch/:entity` with `[{key, value}]`: one batchSet.
fn batch(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let items: Vec<Item> = serde_json::from_slice(&req.body)?;
    let count = items.len();
    storage::entity(req.param("entity").unwrap_or_default())
        .batch_set(items.into_iter().map(|i| (i.key, i.value)))
        .map_err(refused)?;
    Ok(PluginResponse::json(&json!({ "set": count })))
}

/// `POST /batch-delete/:entity` with `[key]`: one batchDelete.
fn batch_delete(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let keys: Vec<String> = serde_json::from_slice(&req.body)?;
    storage::entity(req.param("entity").unwrap_or_default())
        .batch_delete(keys)
        .map_err(refused)?;
    Ok(PluginResponse::json(&json!({ "deleted": true })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct QueryBody {
    index: Option<String>,
    partition: Vec<Value>,
    condition: Option<Condition>,
    descending: bool,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn build(entity: &str, body: &QueryBody) -> storage::Query {
    let mut query = storage::entity(entity).query();
    if let Some(index) = &body.index {
        query = query.index(index, body.partition.clone());
    }
    if let Some(condition) = &body.condition {
        query = query.condition(condition.clone());
    }
    if body.descending {
        query = query.descending();
    }
    if let Some(limit) = body.limit {
        query = query.limit(limit);
    }
    if let Some(cursor) = &body.cursor {
        query = query.cursor(cursor.clone());
    }
    query
}

fn page_json(page: &storage::Page) -> Value {
    json!({
        "data": page.data.iter().map(|e| json!({ "key": e.key, "value": e.value })).collect::<Vec<_>>(),
        "page_info": { "has_more": page.page_info.has_more, "end_cursor": page.page_info.end_cursor },
    })
}

/// `POST /query/:entity` with `{index, partition, condition, descending,
/// limit, cursor}`: one page.
fn query(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let body: QueryBody = serde_json::from_slice(&req.body)?;
    let page = build(req.param("entity").unwrap_or_default(), &body)
        .get_many()
        .map_err(refused)?;
    Ok(PluginResponse::json(&page_json(&page)))
}

/// `POST /pages/:entity`: follows the cursors to the end; the keys in
/// order and the number of pages.
fn all_pages(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let mut body: QueryBody = serde_json::from_slice(&req.body)?;
    let entity = req.param("entity").unwrap_or_default().to_string();
    let mut keys = Vec::new();
    let mut pages = 0;
    loop {
        let page = build(&entity, &body).get_many().map_err(refused)?;
        pages += 1;
        keys.extend(page.data.iter().map(|e| e.key.clone()));
        match page.page_info.end_cursor {
            Some(cursor) if page.page_info.has_more => body.cursor = Some(cursor),
            _ => break,
        }
    }
    Ok(PluginResponse::json(
        &json!({ "keys": keys, "pages": pages }),
    ))
}

/// `POST /kv/:key`: one set of the body into `employee`, then one get;
/// the benchmark's storage route.
fn set_get(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let entity = storage::entity("employee");
    let key = req.param("key").unwrap_or_default().to_string();
    let value: Value = req.json_value()?;
    entity.set(&key, &value).map_err(refused)?;
    let stored = entity.get(&key).map_err(refused)?;
    Ok(PluginResponse::json(
        &json!({ "key": key, "value": stored }),
    ))
}

op_plugin_sdk::export_functions! {
    set_get as "setGet",
    record,
    batch,
    batch_delete as "batchDelete",
    query,
    all_pages as "allPages",
}
