//! Entity storage through `op serve`, on both of its databases: SQLite
//! files (the directory store) and PostgreSQL (a throw-away server). The
//! `keeper` guest, built from source, puts every storage operation behind a
//! route; the tests drive it over HTTP and check each rule from both sides,
//! the pages of a query, isolation between teams, restarts and upgrades.

mod common;

use common::postgres::Postgres;
use common::serve::{Running, TEAM, admin_post, package};
use common::upstream;
use serde_json::{Value, json};

const OTHER_TEAM: &str = "TEAM0002";

/// The keeper as a client calls it, in one team.
struct Keeper {
    client: reqwest::Client,
    origin: String,
    team: &'static str,
}

impl Keeper {
    fn new(origin: &str, team: &'static str) -> Self {
        Keeper {
            client: common::client(),
            origin: origin.to_string(),
            team,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/project/api/project{path}", self.origin);
        let mut request = self
            .client
            .request(method, url)
            .header("Ones-Team-UUID", self.team);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let res = request.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn set(&self, entity: &str, key: &str, value: Value) -> (u16, Value) {
        let path = format!("/records/{entity}/{}", encode(key));
        self.call(reqwest::Method::POST, &path, Some(value)).await
    }

    async fn get(&self, entity: &str, key: &str) -> (u16, Value) {
        let path = format!("/records/{entity}/{}", encode(key));
        self.call(reqwest::Method::GET, &path, None).await
    }

    /// The value under `key`, which must be there.
    async fn value(&self, entity: &str, key: &str) -> Value {
        let (status, body) = self.get(entity, key).await;
        assert_eq!(status, 200, "get {entity}/{key}: {body}");
        body["value"].clone()
    }

    async fn delete(&self, entity: &str, key: &str) -> (u16, Value) {
        let path = format!("/records/{entity}/{}", encode(key));
        self.call(reqwest::Method::DELETE, &path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Every key of a query, following its cursors; and the page count.
    async fn all_keys(&self, entity: &str, query: Value) -> (Vec<String>, u64) {
        let (status, body) = self.post(&format!("/pages/{entity}"), query).await;
        assert_eq!(status, 200, "{body}");
        let keys = body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        (keys, body["pages"].as_u64().unwrap())
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A key as one path segment.
fn encode(key: &str) -> String {
    let mut out = String::new();
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The reason of an ONES error answer, which must have `status`.
fn refused(answer: (u16, Value), status: u16) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    answer.1["reason"].as_str().unwrap_or_default().to_string()
}

/// The keeper's package, its manifest edited by `edit`.
fn keeper(edit: impl Fn(String) -> String) -> Vec<u8> {
    package(op_test_plugins::KEEPER_DIR, op_test_plugins::KEEPER, edit)
}

fn version(text: String, version: &str) -> String {
    text.replace("version: 0.1.0", &format!("version: {version}"))
}

async fn install(origin: &str, team: &str, package: Vec<u8>) -> (u16, Value) {
    let client = common::client();
    admin_post(
        &client,
        format!("{origin}/admin/plugins?team={team}"),
        package,
    )
    .await
}

/// The 250 employees of the query checks: `k000`..`k249`, in `eng` (even)
/// or `ops` (odd), age `i % 50`, name `n{249 - i}`, score `i / 2`, active
/// when `i % 3 != 0`.
fn employees() -> Vec<(String, Value)> {
    (0..250)
        .map(|i: i64| {
            let key = format!("k{i:03}");
            let value = json!({
                "dept": if i % 2 == 0 { "eng" } else { "ops" },
                "age": i % 50,
                "name": format!("n{:03}", 249 - i),
                "score": i as f64 / 2.0,
                "active": i % 3 != 0,
            });
            (key, value)
        })
        .collect()
}

/// The keys of `rows` that `keep` selects, ordered by `by` then key.
fn expected(
    rows: &[(String, Value)],
    keep: impl Fn(&Value) -> bool,
    by: impl Fn(&Value) -> f64,
    descending: bool,
) -> Vec<String> {
    let mut out: Vec<(f64, String)> = rows
        .iter()
        .filter(|(_, v)| keep(v))
        .map(|(k, v)| (by(v), k.clone()))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    if descending {
        out.reverse();
    }
    out.into_iter().map(|(_, k)| k).collect()
}

/// Every rule of entity storage, both sides, on the server at `origin`
/// where the keeper is installed in `TEAM`.
async fn every_rule(origin: &str) {
    let keeper = Keeper::new(origin, TEAM);

    // Create: defaults apply; required attributes must be there.
    assert_eq!(
        keeper
            .set("employee", "e1", json!({"dept": "eng", "name": "Ann"}))
            .await
            .0,
        200
    );
    assert_eq!(
        keeper.value("employee", "e1").await,
        json!({"dept": "eng", "name": "Ann", "age": 30, "active": true})
    );
    let reason = refused(
        keeper.set("employee", "e2", json!({"name": "Bob"})).await,
        400,
    );
    assert!(
        reason.contains("`employee.dept` is required: a new record must have it"),
        "{reason}"
    );
    assert_eq!(keeper.get("employee", "e2").await.0, 404);

    // Update: attributes left out keep their values; null removes one.
    assert_eq!(
        keeper.set("employee", "e1", json!({"age": 41})).await.0,
        200
    );
    assert_eq!(
        keeper.value("employee", "e1").await,
        json!({"dept": "eng", "name": "Ann", "age": 41, "active": true})
    );
    assert_eq!(
        keeper.set("employee", "e1", json!({"name": null})).await.0,
        200
    );
    assert_eq!(keeper.value("employee", "e1").await.get("name"), None);
    let reason = refused(
        keeper.set("employee", "e1", json!({"dept": null})).await,
        400,
    );
    assert!(
        reason.contains("`employee.dept` is required and cannot be null"),
        "{reason}"
    );

    // Types and lengths, at the limit and over it.
    let name64 = "x".repeat(64);
    assert_eq!(
        keeper
            .set("employee", "e1", json!({"name": name64}))
            .await
            .0,
        200
    );
    let reason = refused(
        keeper
            .set("employee", "e1", json!({"name": "x".repeat(65)}))
            .await,
        400,
    );
    assert!(
        reason.contains("`employee.name` holds at most 64 bytes; this value has 65"),
        "{reason}"
    );
    let reason = refused(
        keeper.set("employee", "e1", json!({"age": "old"})).await,
        400,
    );
    assert!(
        reason.contains("`employee.age` is an integer, not a string"),
        "{reason}"
    );
    let reason = refused(
        keeper.set("employee", "e1", json!({"active": 1})).await,
        400,
    );
    assert!(
        reason.contains("`employee.active` is a boolean, not the number 1"),
        "{reason}"
    );
    let reason = refused(
        keeper.set("employee", "e1", json!({"salary": 1})).await,
        400,
    );
    assert!(
        reason.contains("entity `employee` has no attribute `salary`"),
        "{reason}"
    );
    let reason = refused(keeper.set("employee", "e1", json!([1, 2])).await, 400);
    assert!(
        reason.contains("must be an object of attributes, not a list"),
        "{reason}"
    );
    let reason = refused(keeper.set("robots", "r1", json!({})).await, 400);
    assert!(
        reason.contains("no entity `robots` is declared") && reason.contains("employee, note"),
        "{reason}"
    );
    let reason = refused(
        keeper
            .set("employee", &"k".repeat(256), json!({"dept": "x"}))
            .await,
        400,
    );
    assert!(reason.contains("a key holds at most 255 bytes"), "{reason}");
    assert_eq!(
        keeper
            .set("employee", &"k".repeat(255), json!({"dept": "x"}))
            .await
            .0,
        200
    );
    let big = "b".repeat(1000);
    assert_eq!(
        keeper.set("employee", "e1", json!({"bio": big})).await.0,
        200
    );
    let reason = refused(
        keeper
            .set("employee", "e1", json!({"bio": "b".repeat(1001)}))
            .await,
        400,
    );
    assert!(
        reason.contains("`employee.bio` holds at most 1000 bytes"),
        "{reason}"
    );

    // batchSet is all or nothing.
    let (status, body) = keeper
        .post(
            "/batch/employee",
            json!([
                {"key": "good", "value": {"dept": "eng"}},
                {"key": "bad", "value": {"dept": "eng", "age": 1.5}},
            ]),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("`employee.age` is an integer")
    );
    assert_eq!(
        keeper.get("employee", "good").await.0,
        404,
        "nothing was written"
    );

    // Deletes.
    assert_eq!(
        keeper.delete("employee", &"k".repeat(255)).await.1["deleted"],
        true
    );
    assert_eq!(
        keeper.delete("employee", &"k".repeat(255)).await.1["deleted"],
        false
    );
    assert_eq!(keeper.delete("employee", "e1").await.1["deleted"], true);

    // 250 records, then the queries.
    let rows = employees();
    let batch: Vec<Value> = rows
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let (status, body) = keeper.post("/batch/employee", Value::Array(batch)).await;
    assert_eq!(status, 200, "{body}");
    let age = |v: &Value| v["age"].as_f64().unwrap();
    let score = |v: &Value| v["score"].as_f64().unwrap();
    let eng = |v: &Value| v["dept"] == "eng";

    let (keys, pages) = keeper.all_keys("employee", json!({"limit": 100})).await;
    let mut by_key: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    by_key.sort();
    assert_eq!(keys, by_key, "no index: by key");
    assert_eq!(pages, 3);
    let (keys, pages) = keeper
        .all_keys("employee", json!({"limit": 7, "descending": true}))
        .await;
    assert_eq!(keys, by_key.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(pages, 36);

    let (keys, pages) = keeper
        .all_keys(
            "employee",
            json!({"index": "by_age", "partition": ["eng"], "limit": 50}),
        )
        .await;
    assert_eq!(keys, expected(&rows, eng, age, false), "by_age in eng");
    assert_eq!(pages, 3);
    for (condition, keep, descending) in [
        (
            json!({"op": "between", "values": [10, 20]}),
            Box::new(|v: &Value| eng(v) && (10.0..=20.0).contains(&age(v)))
                as Box<dyn Fn(&Value) -> bool>,
            true,
        ),
        (
            json!({"op": "greaterThan", "values": 44}),
            Box::new(|v: &Value| eng(v) && age(v) > 44.0),
            false,
        ),
        (
            json!({"op": "lessOrEqual", "values": 3}),
            Box::new(|v: &Value| eng(v) && age(v) <= 3.0),
            true,
        ),
        (
            json!({"op": "equal", "values": 8}),
            Box::new(|v: &Value| eng(v) && age(v) == 8.0),
            false,
        ),
    ] {
        let query = json!({
            "index": "by_age", "partition": ["eng"], "condition": condition,
            "descending": descending, "limit": 4,
        });
        let (keys, _) = keeper.all_keys("employee", query).await;
        assert_eq!(keys, expected(&rows, &keep, age, descending), "{condition}");
        assert!(!keys.is_empty(), "{condition}");
    }
    let (keys, _) = keeper
        .all_keys(
            "employee",
            json!({"index": "by_name", "condition": {"op": "beginsWith", "values": "n1"}, "limit": 30}),
        )
        .await;
    let names: Vec<String> = (100..200).map(|i| format!("k{:03}", 249 - i)).collect();
    assert_eq!(keys, names, "names n100..n199, by name");
    let (keys, _) = keeper
        .all_keys(
            "employee",
            json!({"index": "by_score", "partition": ["ops", true],
                   "condition": {"op": "lessThan", "values": 50.5}, "limit": 200}),
        )
        .await;
    assert_eq!(
        keys,
        expected(
            &rows,
            |v| v["dept"] == "ops" && v["active"] == true && score(v) < 50.5,
            score,
            false
        )
    );

    // The limit is capped; a page says whether more follow.
    let (status, page) = keeper
        .post("/query/employee", json!({"limit": 1_000_000}))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 200);
    assert_eq!(page["page_info"]["has_more"], true);
    let (_, page) = keeper.post("/query/employee", json!({"limit": 250})).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 200);
    let (_, last) = keeper
        .post(
            "/query/employee",
            json!({"limit": 200, "cursor": page["page_info"]["end_cursor"]}),
        )
        .await;
    assert_eq!(last["data"].as_array().unwrap().len(), 50);
    assert_eq!(last["page_info"]["has_more"], false);
    assert_eq!(last["page_info"]["end_cursor"], Value::Null);

    // Queries the declaration does not allow.
    let reason = refused(
        keeper
            .post("/query/employee", json!({"index": "by_salary"}))
            .await,
        400,
    );
    assert!(
        reason.contains(
            "entity `employee` has no index `by_salary` (it declares: by_age, by_name, by_score)"
        ),
        "{reason}"
    );
    let reason = refused(
        keeper
            .post("/query/employee", json!({"index": "by_age"}))
            .await,
        400,
    );
    assert!(
        reason.contains("index `by_age` of `employee` is partitioned by [dept]"),
        "{reason}"
    );
    let reason = refused(
        keeper
            .post(
                "/query/employee",
                json!({"index": "by_age", "partition": ["eng"], "condition": {"op": "beginsWith", "values": "1"}}),
            )
            .await,
        400,
    );
    assert!(
        reason.contains("`beginsWith` applies to string attributes"),
        "{reason}"
    );
    let reason = refused(
        keeper
            .post("/query/employee", json!({"cursor": "not-a-cursor"}))
            .await,
        400,
    );
    assert!(
        reason.contains("the cursor does not belong to this query"),
        "{reason}"
    );

    // Hostile: SQL in keys, values and index names is data.
    let sneaky_key = "'; DROP TABLE records; --";
    let sneaky_name = "Robert'); DROP TABLE op_entity_records;--";
    assert_eq!(
        keeper
            .set(
                "employee",
                sneaky_key,
                json!({"dept": "eng\"'", "name": sneaky_name})
            )
            .await
            .0,
        200
    );
    assert_eq!(
        keeper.value("employee", sneaky_key).await,
        json!({"dept": "eng\"'", "name": sneaky_name, "age": 30, "active": true})
    );
    let reason = refused(
        keeper
            .post(
                "/query/employee",
                json!({"index": "by_age'; DROP TABLE records; --", "partition": ["eng"]}),
            )
            .await,
        400,
    );
    assert!(
        reason.contains("has no index `by_age'; DROP TABLE records; --`"),
        "{reason}"
    );
    let (keys, _) = keeper
        .all_keys(
            "employee",
            json!({"index": "by_name", "condition": {"op": "equal", "values": sneaky_name}}),
        )
        .await;
    assert_eq!(keys, vec![sneaky_key.to_string()]);
    let (keys, _) = keeper.all_keys("employee", json!({"limit": 200})).await;
    assert_eq!(keys.len(), 251, "250 employees and the sneaky one");

    // Hostile: a batch over the limit is refused whole.
    let flood: Vec<Value> = (0..10_000)
        .map(|i| json!({"key": format!("f{i}"), "value": {"dept": "eng"}}))
        .collect();
    let reason = refused(
        keeper.post("/batch/employee", Value::Array(flood)).await,
        400,
    );
    assert!(
        reason.contains("a batch writes at most 1000 records; this one has 10000"),
        "{reason}"
    );
    assert_eq!(keeper.get("employee", "f0").await.0, 404);

    // batchDelete.
    let (status, _) = keeper
        .post("/batch-delete/employee", json!(["k000", "k001", "nothing"]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(keeper.get("employee", "k000").await.0, 404);
    assert_eq!(keeper.get("employee", "k002").await.0, 200);
}

/// The same plugin in another team is another instance: it sees none of
/// the first one's records, and its own stay its own.
async fn teams_are_isolated(origin: &str) {
    let (status, body) = install(origin, OTHER_TEAM, keeper(|m| m)).await;
    assert_eq!(status, 201, "{body}");
    let ours = Keeper::new(origin, TEAM);
    let theirs = Keeper::new(origin, OTHER_TEAM);
    assert_eq!(theirs.get("employee", "k002").await.0, 404);
    let (_, page) = theirs.post("/query/employee", json!({})).await;
    assert_eq!(page["data"], json!([]));
    assert_eq!(
        theirs
            .set("employee", "k002", json!({"dept": "theirs"}))
            .await
            .0,
        200
    );
    assert_eq!(ours.value("employee", "k002").await["dept"], "eng");
    assert_eq!(theirs.value("employee", "k002").await["dept"], "theirs");
}

/// Upgrades: an added attribute applies (its default on old records); one
/// that drops an attribute holding data is refused and the old version
/// goes on serving.
async fn upgrades(origin: &str) {
    let keeper_in = Keeper::new(origin, TEAM);
    let added = |m: String| {
        version(m, "0.2.0").replace(
            "        - {name: bio, type: text, length: 1000}\n",
            "        - {name: bio, type: text, length: 1000}\n        - {name: level, type: integer, default: 1}\n",
        )
    };
    let (status, body) = install(origin, TEAM, keeper(added)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "upgraded", "{body}");
    assert_eq!(keeper_in.value("employee", "k002").await["level"], 1);

    let dropped = |m: String| {
        added(m)
            .replace("version: 0.2.0", "version: 0.3.0")
            .replace("        - {name: score, type: float}\n", "")
            .replace(
                "        - {name: by_score, range_attribute: score, partition: [dept, active]}\n",
                "",
            )
    };
    let (status, body) = install(origin, TEAM, keeper(dropped)).await;
    assert_eq!(status, 409, "{body}");
    let reason = body.to_string();
    assert!(
        reason.contains(
            "the new version drops attribute `employee.score`, which 248 records of `employee` hold"
        ),
        "{reason}"
    );
    let client = common::client();
    let listing = common::serve::admin_get(&client, format!("{origin}/admin/plugins")).await;
    let versions: Vec<&str> = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["team_uuid"] == TEAM)
        .map(|p| p["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["0.2.0"], "{listing}");
    assert_eq!(keeper_in.value("employee", "k002").await["score"], 1.0);
}

/// A browser's multipart upload of `body` to the upload address
/// `address` (as the plugin answered it), with `fields` as given.
async fn form_upload(
    origin: &str,
    address: &Value,
    fields: &[(&str, &str)],
    media_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    let part = reqwest::multipart::Part::bytes(body.to_vec())
        .file_name("upload.bin")
        .mime_str(media_type)
        .unwrap();
    form = form.part("file", part);
    let url = format!("{origin}{}", address["web_url"].as_str().unwrap());
    let res = common::client()
        .post(url)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The fields of an upload address, as pairs.
fn fields_of(address: &Value) -> Vec<(String, String)> {
    address["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_string(),
                pair[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Object storage: a browser uploads through a signed address and
/// downloads through another; the plugin puts, gets and deletes, and
/// fetches its own addresses through OPFetch; a changed address, the wrong
/// method, a form for another key and an object over the limit are
/// refused; another team's instance sees none of it. Returns a download
/// address signed now, for the checks after a restart.
async fn objects(origin: &str) -> String {
    let keeper = Keeper::new(origin, TEAM);
    let client = common::client();
    let key = "cover a.png";
    let png: Vec<u8> = (0..=255u8).cycle().take(5000).collect();

    let (status, upload) = keeper
        .post(
            &format!("/objects/sign/{}", encode(key)),
            json!({"access": "upload"}),
        )
        .await;
    assert_eq!(status, 200, "{upload}");
    assert!(
        upload["url"].as_str().unwrap().starts_with("/op/objects/")
            && upload["web_url"]
                .as_str()
                .unwrap()
                .starts_with("/project/api/project/op/objects/"),
        "{upload}"
    );
    assert_eq!(upload["fields"], json!([["key", key]]));
    let fields = fields_of(&upload);
    let field_refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();

    // The form's key must be the address's.
    let (status, body) =
        form_upload(origin, &upload, &[("key", "another")], "image/png", &png).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("not the key"),
        "{body}"
    );
    let (status, body) = form_upload(origin, &upload, &field_refs, "image/png", &png).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"key": key, "size": 5000}));

    let (status, download) = keeper
        .post(
            &format!("/objects/sign/{}", encode(key)),
            json!({"access": "download"}),
        )
        .await;
    assert_eq!(status, 200, "{download}");
    let download_url = format!("{origin}{}", download["web_url"].as_str().unwrap());
    let res = client.get(&download_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let header = |name: &str| res.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").contains("sandbox"));
    assert_eq!(res.bytes().await.unwrap().to_vec(), png);
    let head = client.head(&download_url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "5000");

    // An address with one character changed, and the wrong methods.
    // (A character inside the signature: the last one also holds padding
    // bits.)
    let mut forged: Vec<char> = download["web_url"].as_str().unwrap().chars().collect();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let res = client
        .get(format!("{origin}{forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("not validly signed"));
    let res = client.put(&download_url).body("x").send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    let upload_url = format!("{origin}{}", upload["web_url"].as_str().unwrap());
    assert_eq!(client.get(&upload_url).send().await.unwrap().status(), 405);
    let res = client
        .get(format!("{origin}/project/api/project/op/objects/nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // The size limit, both sides, by PUT to the upload address.
    let limit = 10 * 1024 * 1024;
    let res = client
        .put(&upload_url)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; limit + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = client
        .put(&upload_url)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; limit])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let res = client.get(&download_url).send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), limit);
    // Back to the picture, by form.
    let (status, _) = form_upload(origin, &upload, &field_refs, "image/png", &png).await;
    assert_eq!(status, 201);

    // The plugin's own calls: put, get, delete; its own addresses through
    // OPFetch, answered in-process.
    let url = format!("{origin}/project/api/project/objects/file/report.csv");
    let res = client
        .post(&url)
        .header("Ones-Team-UUID", TEAM)
        .header("content-type", "text/csv")
        .body("a,b\n1,2\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = client
        .get(&url)
        .header("Ones-Team-UUID", TEAM)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv");
    assert_eq!(res.text().await.unwrap(), "a,b\n1,2\n");
    let (status, body) = keeper
        .call(reqwest::Method::DELETE, "/objects/file/report.csv", None)
        .await;
    assert_eq!((status, body), (200, json!({"deleted": true})));
    assert_eq!(
        keeper
            .call(reqwest::Method::GET, "/objects/file/report.csv", None)
            .await
            .0,
        404
    );
    let res = client
        .post(format!(
            "{origin}/project/api/project/objects/roundtrip/notes.txt"
        ))
        .header("Ones-Team-UUID", TEAM)
        .body("written by the plugin")
        .send()
        .await
        .unwrap();
    let trip: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(trip["upload_status"], 201, "{trip}");
    assert_eq!(trip["download_status"], 200, "{trip}");
    assert_eq!(trip["download_type"], "text/plain", "{trip}");
    assert_eq!(trip["download_body"], "written by the plugin", "{trip}");
    let bad = keeper
        .post(
            &format!("/objects/sign/{}", encode(&"k".repeat(300))),
            json!({"access": "upload"}),
        )
        .await;
    assert!(refused(bad, 400).contains("at most 255 bytes"));

    // Another team's instance has objects of its own only.
    let theirs = Keeper::new(origin, OTHER_TEAM);
    assert_eq!(
        theirs
            .call(
                reqwest::Method::GET,
                &format!("/objects/file/{}", encode(key)),
                None
            )
            .await
            .0,
        404
    );
    let (_, their_download) = theirs
        .post(
            &format!("/objects/sign/{}", encode(key)),
            json!({"access": "download"}),
        )
        .await;
    let res = client
        .get(format!(
            "{origin}{}",
            their_download["web_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    download_url
}

/// Installs the keeper in `TEAM` on `running` and runs every check but
/// the restart; returns a download address of an object it stored.
async fn scenario(running: &Running) -> String {
    let (status, body) = install(&running.origin, TEAM, keeper(|m| m)).await;
    assert_eq!(status, 201, "{body}");
    every_rule(&running.origin).await;
    teams_are_isolated(&running.origin).await;
    upgrades(&running.origin).await;
    objects(&running.origin).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entity_storage_on_sqlite_files_keeps_every_rule_and_survives_a_restart() {
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path(), &ones.origin).await;
    let download = scenario(&running).await;
    running.shutdown().await;
    let files: Vec<String> = std::fs::read_dir(dir.path().join("storage"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sqlite"))
        .collect();
    assert_eq!(files.len(), 2, "one database per instance: {files:?}");

    let running = Running::start(dir.path(), &ones.origin).await;
    let keeper = Keeper::new(&running.origin, TEAM);
    assert_eq!(keeper.value("employee", "k002").await["dept"], "eng");
    assert_eq!(keeper.value("employee", "k002").await["level"], 1);
    still_downloads(&download, &running.origin).await;
    expired_and_oversized(&download, &running.origin, dir.path()).await;
    running.shutdown().await;
}

/// An address signed with the host's own secret is refused once its time
/// is up, and honoured while it lasts; a request to an address with
/// headers over the gateway's limit is refused as any other request is.
async fn expired_and_oversized(download: &str, origin: &str, plugins_dir: &std::path::Path) {
    use op::storage::signed_urls::{self, Access, Token};
    let secret = std::fs::read(plugins_dir.join("storage/object-urls.key")).unwrap();
    let token = &download[download.rfind('/').unwrap() + 1..];
    let instance = Token::parse(token).unwrap().instance().to_string();
    let now = signed_urls::now();
    let client = common::client();
    let get = |expires_at: u64| {
        let token = signed_urls::sign(
            &secret,
            Access::Download,
            &instance,
            "cover a.png",
            expires_at,
        );
        client
            .get(format!("{origin}{}{token}", signed_urls::WEB_PREFIX))
            .send()
    };
    let res = get(now - 1).await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("expired"));
    let res = get(now + 60).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), 5000);

    // The gateway's 64 KiB header limit, both sides.
    let path = &download[download.find("/project/").unwrap()..];
    for (size, status) in [(128 * 1024, 431), (60 * 1024, 200)] {
        let res = client
            .get(format!("{origin}{path}"))
            .header("x-filler", "x".repeat(size))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{size} bytes of headers");
    }
}

/// An address signed before a restart (or by another replica) still
/// answers the object on the host at `origin`.
async fn still_downloads(download: &str, origin: &str) {
    let path = &download[download.find("/project/").unwrap()..];
    let res = common::client()
        .get(format!("{origin}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entity_storage_on_postgresql_keeps_every_rule_and_survives_a_restart() {
    let ones = upstream::start().await;
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::serve::config(dir.path(), &ones.origin);
    config.store_url = Some(pg.database("storage"));
    let running = Running::start_with(config.clone()).await;
    let download = scenario(&running).await;
    running.shutdown().await;
    assert_eq!(
        pg.sql(
            "storage",
            "SELECT count(DISTINCT instance) FROM op_entity_records"
        ),
        "2"
    );
    // The declared indexes are database indexes: partition attributes
    // first, then the range attribute.
    let indexes = pg.sql(
        "storage",
        "SELECT string_agg(indexdef, E'\\n') FROM pg_indexes \
         WHERE tablename = 'op_entity_records' AND indexname LIKE 'op_ix_%'",
    );
    assert!(
        indexes.contains("(value ->> 'dept'::text)") && indexes.contains("(value -> 'age'::text)"),
        "{indexes}"
    );

    // A replica started afresh (its own plugins_dir) sees the same data.
    let fresh = tempfile::tempdir().unwrap();
    config.plugins_dir = fresh.path().to_path_buf();
    let running = Running::start_with(config).await;
    let keeper = Keeper::new(&running.origin, TEAM);
    assert_eq!(keeper.value("employee", "k002").await["dept"], "eng");
    assert_eq!(keeper.value("employee", "k002").await["level"], 1);
    still_downloads(&download, &running.origin).await;
    running.shutdown().await;
}

/// A TypeScript plugin: the ONES template's timer function (no argument)
/// stores a record each tick through `@ones-op/sdk/backend`, a route pages
/// through them by index, and a refused value is a `StorageError` the
/// plugin can catch; its workspace files and its objects work too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_typescript_timer_keeps_its_ticks_in_entity_storage_and_files_stay_in_the_workspace() {
    let ones = upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path(), &ones.origin).await;
    let package = common::serve::ts_package(
        op_test_plugins::TS_KEEPER_DIR,
        op_test_plugins::TS_KEEPER,
        |m| m,
        |code| code,
    );
    let (status, body) = install(&running.origin, TEAM, package).await;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let keeper = Keeper::new(&running.origin, TEAM);
    let (status, body) = keeper.call(reqwest::Method::GET, "/ts-ticks", None).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(
        (2..=5).contains(&keys.len()),
        "about one tick a second: {body}"
    );
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted, "newest first");
    assert_eq!(body["first"]["kind"], "timer");
    assert_eq!(body["first"]["seen"], 1, "the default");
    assert!(body["first"]["at"].as_i64().unwrap() > 1_700_000_000_000);

    let (status, body) = keeper
        .post("/ts-note/n1", json!({"kind": "k".repeat(17)}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "too-large");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("`tick.kind` holds at most 16 bytes; this value has 17"),
        "{body}"
    );
    let (status, body) = keeper
        .post("/ts-note/n1", json!({"kind": "note", "at": 5}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stored"], json!({"kind": "note", "at": 5, "seen": 1}));

    // @ones-op/node-fs: the workspace, and nothing outside it.
    let (status, body) = keeper.call(reqwest::Method::GET, "/ts-files", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["text"], "one two");
    assert_eq!(body["size"], 7);
    assert_eq!(body["names"], json!(["b.txt"]));
    assert_eq!(body["missing"], "ENOENT");
    let escapes = body["escapes"].as_object().unwrap();
    assert_eq!(escapes.len(), 4, "{body}");
    for (path, said) in escapes {
        assert_eq!(said, "Out of the accessible path range", "{path}");
    }
    assert!(
        body["nonString"]
            .as_str()
            .unwrap()
            .contains("The \"path\" argument must be of type string"),
        "{body}"
    );
    let written: Vec<std::path::PathBuf> = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with("notes/b.txt"))
        .collect();
    assert_eq!(written.len(), 1, "in the instance's workspace: {written:?}");
    assert_eq!(std::fs::read_to_string(&written[0]).unwrap(), "one two");

    // storage.object: a browser uploads to the address the plugin handed
    // out; the plugin reads it back through OPFetch and directly.
    let (status, upload) = keeper.post("/ts-cover", json!({})).await;
    assert_eq!(status, 200, "{upload}");
    assert_eq!(upload["fields"], json!({"key": "cover"}));
    let (status, body) = form_upload(
        &running.origin,
        &json!({"web_url": upload["url"]}),
        &[("key", "cover")],
        "text/plain",
        b"a cover, as text",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = keeper.call(reqwest::Method::GET, "/ts-cover", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": 200, "viaFetch": "a cover, as text", "direct": "a cover, as text", "type": "text/plain"})
    );
    running.shutdown().await;
}

/// `kill -9` of `op serve` while a `batchSet` of 1,000 records is on its
/// way: after a restart, all of them are there or none.
async fn a_killed_batch_is_all_or_nothing(store: &str) {
    let ones = upstream::start().await;
    let mut replica = common::fleet::Replica::start(store, &ones.origin);
    let (status, body) = install(&replica.origin, TEAM, keeper(|m| m)).await;
    assert_eq!(status, 201, "{body}");
    let mut outcomes = Vec::new();
    for (attempt, delay_ms) in [2u64, 10, 25, 60, 120, 250, 500].into_iter().enumerate() {
        let prefix = format!("a{attempt}-");
        let batch: Vec<Value> = (0..1000)
            .map(|i| json!({"key": format!("{prefix}{i:04}"), "value": {"dept": "eng", "name": format!("{prefix}{i:04}")}}))
            .collect();
        let origin = replica.origin.clone();
        // The connection is cut by the kill: no answer is an answer here.
        let sent = tokio::spawn(async move {
            let res = common::client()
                .post(format!("{origin}/project/api/project/batch/employee"))
                .header("Ones-Team-UUID", TEAM)
                .header("content-type", "application/json")
                .body(Value::Array(batch).to_string())
                .send()
                .await;
            (res.map_or(0, |r| r.status().as_u16()), ())
        });
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        replica.kill();
        let answered = sent.await.map(|(status, _)| status).unwrap_or(0);
        replica.restart();
        let keeper = Keeper::new(&replica.origin, TEAM);
        let (keys, _) = keeper
            .all_keys(
                "employee",
                json!({"index": "by_name", "condition": {"op": "beginsWith", "values": prefix}, "limit": 200}),
            )
            .await;
        assert!(
            keys.is_empty() || keys.len() == 1000,
            "attempt {attempt} ({delay_ms} ms): {} of 1000 records",
            keys.len()
        );
        if answered == 200 {
            assert_eq!(keys.len(), 1000, "an answered batch is all there");
        }
        outcomes.push(keys.len());
    }
    eprintln!("records after each kill: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_cut_by_kill_9_is_all_or_nothing_on_sqlite_and_on_postgresql() {
    a_killed_batch_is_all_or_nothing("directory").await;
    let pg = Postgres::start();
    a_killed_batch_is_all_or_nothing(&pg.database("killed")).await;
}

/// `op invoke run`: records go to `.op/storage/` (SQLite), survive a
/// restart, an edit that would drop an attribute holding data keeps the
/// version that serves, and `op invoke clear` deletes them.
#[test]
fn the_dev_loop_keeps_records_in_sqlite_until_op_invoke_clear() {
    use common::console::{edit, get, op, post, serve_project};
    let home = tempfile::tempdir().unwrap();
    let project =
        common::console::linked_project(op_test_plugins::KEEPER_DIR, home.path(), "keeper");
    let manifest = project.join("config/plugin.yaml");
    let record = |origin: &str| format!("{origin}/project/api/project/records/employee/e1");

    let serving = serve_project("keeper", home.path());
    let (status, body) = post(&record(&serving.origin), r#"{"dept":"eng","score":1.5}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&record(&serving.origin));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""score":1.5"#), "{body}");

    // An edit that drops `score`, which a record holds: refused, and the
    // running version goes on serving.
    let dropped = "        - {name: score, type: float}\n";
    let by_score =
        "        - {name: by_score, range_attribute: score, partition: [dept, active]}\n";
    let from = serving.stderr.len();
    edit(&manifest, dropped, "");
    edit(&manifest, by_score, "");
    let said = serving
        .stderr
        .wait_for("drops attribute `employee.score`", from);
    assert!(
        said.contains("which 1 record of `employee` hold"),
        "{said}\n{}",
        serving.stderr.all()
    );
    let (status, body) = get(&record(&serving.origin));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""score":1.5"#), "{body}");
    drop(serving);

    let files: Vec<_> = std::fs::read_dir(project.join(".op/storage"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sqlite"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");

    // Back to the declaration with `score`: a restart finds the record.
    std::fs::copy(
        std::path::Path::new(op_test_plugins::KEEPER_DIR).join("config/plugin.yaml"),
        &manifest,
    )
    .unwrap();
    let serving = serve_project("keeper", home.path());
    let (status, body) = get(&record(&serving.origin));
    assert_eq!(status, 200, "{body}");
    drop(serving);

    let clear = op(&["invoke", "clear", "keeper"], home.path())
        .output()
        .unwrap();
    assert!(
        clear.status.success(),
        "{}",
        common::binary::text(&clear.stderr)
    );
    assert!(!project.join(".op").exists());
    let serving = serve_project("keeper", home.path());
    let (status, body) = get(&record(&serving.origin));
    assert_eq!(status, 404, "cleared: {body}");
}

/// The timer-sync example, unchanged, in the dev loop: `op invoke timer`
/// fires its timer once (a snapshot marked manual), then `op invoke run`
/// runs it on its schedule and the route lists both through the index.
#[test]
fn the_timer_sync_example_stores_what_its_timer_saw() {
    use common::console::{get, op, serve_project};
    let home = tempfile::tempdir().unwrap();
    common::console::linked_project(op_test_plugins::TIMER_SYNC_DIR, home.path(), "timer-sync");

    let fired = op(
        &["invoke", "timer", "sync-timer", "timer-sync"],
        home.path(),
    )
    .output()
    .unwrap();
    let said = format!(
        "{}{}",
        common::binary::text(&fired.stdout),
        common::binary::text(&fired.stderr)
    );
    assert!(fired.status.success(), "{said}");
    assert!(said.contains("synced /users/me: 200"), "{said}");

    let serving = serve_project("timer-sync", home.path());
    let url = format!(
        "{}/project/api/project/timer-sync/history?limit=50",
        serving.origin
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = get(&url);
        assert_eq!(status, 200, "{body}");
        let history: Value = serde_json::from_str(&body).unwrap();
        let snapshots = history["snapshots"].as_array().unwrap();
        let manual = snapshots.iter().filter(|s| s["manual"] == true).count();
        let scheduled = snapshots.iter().filter(|s| s["manual"] == false).count();
        if manual == 1 && scheduled >= 1 {
            assert!(snapshots.iter().all(|s| s["status"] == 200), "{body}");
            let times: Vec<i64> = snapshots
                .iter()
                .map(|s| s["at"].as_i64().unwrap())
                .collect();
            let mut newest_first = times.clone();
            newest_first.sort_by(|a, b| b.cmp(a));
            assert_eq!(times, newest_first, "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled snapshot: {body}\n{}",
            serving.stderr.all()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
