//! Entity storage for the host's tests: each storage operation behind a
//! route. A storage error answers 400 (the rules refused) or 503 (the
//! database is unavailable) with the host's message as the reason.

use op_plugin_sdk::storage::{self, Condition, StorageError};
use op_plugin_sdk::{OPFetch, PluginError, PluginRequest, PluginResponse, json, objects};
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

/// `POST /objects/sign/:key` with `{"access": "upload"|"download"}`: the
/// signed address, as the plugin received it.
fn sign_object(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let key = req.param("key").unwrap_or_default();
    let body: Value = req.json_value()?;
    let address = match body["access"].as_str() {
        Some("upload") => objects::upload(key),
        _ => objects::download(key),
    }
    .map_err(refused)?;
    Ok(PluginResponse::json(&json!({
        "url": address.url,
        "web_url": address.web_url,
        "fields": address.fields,
        "expires_at": address.expires_at,
    })))
}

/// `GET|POST|DELETE /objects/file/:key`: the object's bytes (with its
/// content type), a put of the request's body (with its content type), a
/// delete.
fn object_file(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let key = req.param("key").unwrap_or_default();
    match req.method.as_str() {
        "GET" => match objects::get(key).map_err(refused)? {
            Some(object) => {
                Ok(PluginResponse::bytes(object.body).with_header("content-type", object.content_type))
            }
            None => Err(PluginError::not_found(format!("no object `{key}`"))),
        },
        "POST" => {
            let media_type = req.header("content-type").unwrap_or_default();
            objects::put(key, media_type, &req.body).map_err(refused)?;
            Ok(PluginResponse::json(&json!({ "put": key, "size": req.body.len() })))
        }
        _ => Ok(PluginResponse::json(
            &json!({ "deleted": objects::delete(key).map_err(refused)? }),
        )),
    }
}

/// `POST /objects/roundtrip/:key`: the plugin uploads the request's body
/// as a form to its own upload address through OPFetch, then downloads it
/// through its download address; answers both statuses and what came back.
fn object_roundtrip(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let key = req.param("key").unwrap_or_default();
    let upload = objects::upload(key).map_err(refused)?;
    let boundary = "op-keeper-boundary";
    let mut form = Vec::new();
    for (name, value) in &upload.fields {
        form.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    form.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    form.extend_from_slice(&req.body);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let stored = OPFetch::post(&upload.url)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(form)
        .send()
        .map_err(|e| PluginError::internal(e.to_string()))?;
    let download = objects::download(key).map_err(refused)?;
    let fetched = OPFetch::get(&download.url)
        .send()
        .map_err(|e| PluginError::internal(e.to_string()))?;
    Ok(PluginResponse::json(&json!({
        "upload_status": stored.status,
        "upload_answer": stored.text(),
        "download_status": fetched.status,
        "download_type": fetched.header("content-type"),
        "download_body": fetched.text(),
    })))
}

op_plugin_sdk::export_functions! {
    sign_object as "signObject",
    object_file as "objectFile",
    object_roundtrip as "objectRoundtrip",
    set_get as "setGet",
    record,
    batch,
    batch_delete as "batchDelete",
    query,
    all_pages as "allPages",
}
