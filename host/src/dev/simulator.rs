//! The embedded ONES simulator: a small in-memory ONES API for local
//! development without a real server. Users with tokens, an organization, a
//! team, projects, tasks and a wiki page; every call needs a valid
//! `Ones-User-Id` / `Ones-Auth-Token` (401 otherwise). State is kept in a
//! JSON file so that a restart is the same ONES.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::imports::Credentials;

/// A simulated ONES user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimUser {
    /// User UUID (the `Ones-User-Id`).
    pub uuid: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Auth token.
    pub token: String,
    /// The plugin this user is the super-admin of, if any.
    #[serde(default)]
    pub super_admin_of: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimProject {
    uuid: String,
    name: String,
    owner: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimTask {
    uuid: String,
    number: u64,
    summary: String,
    description: String,
    project_uuid: String,
    owner: String,
    assign: String,
    status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimPage {
    uuid: String,
    title: String,
    content: String,
}

/// Everything the simulator knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimData {
    organization_uuid: String,
    team_uuid: String,
    team_name: String,
    users: Vec<SimUser>,
    projects: Vec<SimProject>,
    tasks: Vec<SimTask>,
    pages: Vec<SimPage>,
}

impl SimData {
    fn seeded() -> Self {
        let user = |uuid: &str, name: &str| SimUser {
            uuid: uuid.to_string(),
            name: name.to_string(),
            email: format!("{}@example.com", name.to_lowercase()),
            token: crate::ids::random_hex(),
            super_admin_of: None,
        };
        SimData {
            organization_uuid: "SimOrg01".into(),
            team_uuid: "SimTeam1".into(),
            team_name: "Simulated team".into(),
            users: vec![user("AliceU01", "Alice"), user("BobUser1", "Bob")],
            projects: vec![
                SimProject {
                    uuid: "ProjApol".into(),
                    name: "Apollo".into(),
                    owner: "AliceU01".into(),
                },
                SimProject {
                    uuid: "ProjGemi".into(),
                    name: "Gemini".into(),
                    owner: "BobUser1".into(),
                },
            ],
            tasks: vec![SimTask {
                uuid: "TaskAp01".into(),
                number: 1,
                summary: "Plan the launch".into(),
                description: String::new(),
                project_uuid: "ProjApol".into(),
                owner: "AliceU01".into(),
                assign: "AliceU01".into(),
                status: "to_do".into(),
            }],
            pages: vec![SimPage {
                uuid: "PageWelc".into(),
                title: "Welcome".into(),
                content: "<p>Welcome to the simulated wiki.</p>".into(),
            }],
        }
    }
}

struct Shared {
    data: Mutex<SimData>,
    file: Option<PathBuf>,
}

impl Shared {
    fn save(&self, data: &SimData) {
        let Some(file) = &self.file else { return };
        let saved = serde_json::to_vec_pretty(data)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(file, bytes)
            });
        if let Err(err) = saved {
            tracing::warn!(file = %file.display(), "cannot save the simulator's state: {err}");
        }
    }
}

/// A running simulator.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Simulator {
    /// Starts on a free loopback port, with its state in `file` (loaded if
    /// it exists, seeded otherwise; `None` keeps it in memory only).
    pub async fn start(file: Option<PathBuf>) -> std::io::Result<Simulator> {
        let data = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice::<SimData>(&bytes).ok())
            .unwrap_or_else(SimData::seeded);
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            file,
        });
        {
            let data = lock(&shared);
            shared.save(&data);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!("the ONES simulator stopped: {err}");
            }
        });
        Ok(Simulator { addr, shared, task })
    }

    /// Its base URL, e.g. `http://127.0.0.1:40000`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The team plugins are installed in.
    pub fn team_uuid(&self) -> String {
        lock(&self.shared).team_uuid.clone()
    }

    /// The organization.
    pub fn organization_uuid(&self) -> String {
        lock(&self.shared).organization_uuid.clone()
    }

    /// A sample user, for trying routes by hand.
    pub fn sample_user(&self) -> Credentials {
        let data = lock(&self.shared);
        let user = &data.users[0];
        Credentials {
            user_id: user.uuid.clone(),
            token: user.token.clone(),
        }
    }

    /// Installs plugin `app_id`: creates its super-admin (once; a restart
    /// keeps it) and returns its credentials, as ONES does at install.
    pub fn install(&self, app_id: &str) -> Credentials {
        let mut data = lock(&self.shared);
        if let Some(user) = data
            .users
            .iter()
            .find(|u| u.super_admin_of.as_deref() == Some(app_id))
        {
            return Credentials {
                user_id: user.uuid.clone(),
                token: user.token.clone(),
            };
        }
        let uuid = format!("Adm{}", &crate::ids::random_hex()[..5]);
        let user = SimUser {
            uuid: uuid.clone(),
            name: format!("{app_id} (plugin super-admin)"),
            email: format!("{app_id}@plugins.invalid"),
            token: crate::ids::random_hex(),
            super_admin_of: Some(app_id.to_string()),
        };
        let credentials = Credentials {
            user_id: uuid,
            token: user.token.clone(),
        };
        data.users.push(user);
        self.shared.save(&data);
        credentials
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, SimData> {
    match shared.data.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn router(shared: Arc<Shared>) -> Router {
    const P: &str = "/project/api/project";
    Router::new()
        .route(&format!("{P}/users/me"), get(users_me))
        .route(&format!("{P}/team/{{team}}/items/view"), post(items_view))
        .route(&format!("{P}/team/{{team}}/tasks/add2"), post(tasks_add))
        .route(
            &format!("{P}/team/{{team}}/task/{{task}}/info"),
            get(task_info),
        )
        .route("/wiki/api/wiki/team/{team}/page/{page}", get(wiki_page))
        .fallback(not_found)
        .with_state(shared)
}

/// An ONES-style error answer of the simulator.
#[derive(Debug, Clone, Copy)]
struct SimError {
    status: StatusCode,
    errcode: &'static str,
    reason: &'static str,
}

impl SimError {
    const NO_CREDENTIALS: SimError = SimError {
        status: StatusCode::UNAUTHORIZED,
        errcode: "AuthFailure",
        reason: "missing Ones-User-Id or Ones-Auth-Token",
    };
    const BAD_CREDENTIALS: SimError = SimError {
        status: StatusCode::UNAUTHORIZED,
        errcode: "AuthFailure",
        reason: "invalid credentials",
    };
    const NOT_IN_TEAM: SimError = SimError {
        status: StatusCode::FORBIDDEN,
        errcode: "PermissionDenied",
        reason: "not a member of this team",
    };

    fn not_found(reason: &'static str) -> Self {
        SimError {
            status: StatusCode::NOT_FOUND,
            errcode: "NotFound",
            reason,
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.status.as_u16(), "errcode": self.errcode, "reason": self.reason, "type": self.errcode});
        (self.status, axum::Json(body)).into_response()
    }
}

type SimResult = Result<axum::Json<Value>, SimError>;

async fn not_found() -> SimError {
    SimError::not_found("the simulator has no such API")
}

/// The user the request's credentials belong to.
fn authenticate(data: &SimData, headers: &HeaderMap) -> Result<SimUser, SimError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(user_id), Some(token)) = (get("ones-user-id"), get("ones-auth-token")) else {
        return Err(SimError::NO_CREDENTIALS);
    };
    data.users
        .iter()
        .find(|u| u.uuid == user_id && u.token == token)
        .cloned()
        .ok_or(SimError::BAD_CREDENTIALS)
}

/// The user, who must be a member of `team`.
fn member(data: &SimData, headers: &HeaderMap, team: &str) -> Result<SimUser, SimError> {
    let user = authenticate(data, headers)?;
    if team == data.team_uuid {
        Ok(user)
    } else {
        Err(SimError::NOT_IN_TEAM)
    }
}

async fn users_me(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> SimResult {
    let data = lock(&shared);
    let user = authenticate(&data, &headers)?;
    Ok(axum::Json(
        json!({"uuid": user.uuid, "name": user.name, "email": user.email}),
    ))
}

async fn items_view(
    State(shared): State<Arc<Shared>>,
    Path(team): Path<String>,
    headers: HeaderMap,
) -> SimResult {
    let data = lock(&shared);
    member(&data, &headers, &team)?;
    let items: Vec<Value> = data
        .projects
        .iter()
        .map(|p| json!({"uuid": p.uuid, "name": p.name, "owner": p.owner, "item_type": "project"}))
        .collect();
    Ok(axum::Json(json!({"items": items, "total": items.len()})))
}

#[derive(Deserialize)]
struct AddTasks {
    #[serde(default)]
    tasks: Vec<NewTask>,
}

#[derive(Deserialize)]
struct NewTask {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    project_uuid: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    assign: Option<String>,
}

async fn tasks_add(
    State(shared): State<Arc<Shared>>,
    Path(team): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SimResult {
    let mut data = lock(&shared);
    let user = member(&data, &headers, &team)?;
    let request = serde_json::from_slice::<AddTasks>(&body).map_err(|_| SimError {
        status: StatusCode::BAD_REQUEST,
        errcode: "InvalidParameter",
        reason: "the body must be {\"tasks\": [...]}",
    })?;
    let mut created = Vec::new();
    let mut bad = Vec::new();
    for task in request.tasks {
        if task.summary.trim().is_empty() {
            bad.push(json!({"error": "summary is empty", "summary": task.summary}));
            continue;
        }
        if !data.projects.iter().any(|p| p.uuid == task.project_uuid) {
            bad.push(json!({"error": "no such project", "project_uuid": task.project_uuid}));
            continue;
        }
        let number = data.tasks.iter().map(|t| t.number).max().unwrap_or(0) + 1;
        let new = SimTask {
            uuid: format!("Task{number:04}"),
            number,
            summary: task.summary,
            description: task.description,
            project_uuid: task.project_uuid,
            owner: user.uuid.clone(),
            assign: task.assign.unwrap_or_else(|| user.uuid.clone()),
            status: "to_do".into(),
        };
        created.push(serde_json::to_value(&new).unwrap_or(Value::Null));
        data.tasks.push(new);
    }
    shared.save(&data);
    Ok(axum::Json(json!({"tasks": created, "bad_tasks": bad})))
}

async fn task_info(
    State(shared): State<Arc<Shared>>,
    Path((team, task)): Path<(String, String)>,
    headers: HeaderMap,
) -> SimResult {
    let data = lock(&shared);
    member(&data, &headers, &team)?;
    let task = data
        .tasks
        .iter()
        .find(|t| t.uuid == task)
        .ok_or(SimError::not_found("no such task"))?;
    Ok(axum::Json(
        serde_json::to_value(task).unwrap_or(Value::Null),
    ))
}

async fn wiki_page(
    State(shared): State<Arc<Shared>>,
    Path((team, page)): Path<(String, String)>,
    headers: HeaderMap,
) -> SimResult {
    let data = lock(&shared);
    member(&data, &headers, &team)?;
    let page = data
        .pages
        .iter()
        .find(|p| p.uuid == page)
        .ok_or(SimError::not_found("no such page"))?;
    Ok(axum::Json(
        json!({"uuid": page.uuid, "title": page.title, "content": page.content}),
    ))
}
