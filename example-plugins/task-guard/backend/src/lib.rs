//! Guards `POST /team/:teamUUID/tasks/add2`: the intercept refuses tasks
//! whose summary is empty or blank (ONES never sees them); the subscriber
//! logs the uuids of the tasks ONES created.

use op_plugin_sdk::{Logger, PluginError, PluginRequest, PluginResponse};
use serde::Deserialize;

#[derive(Deserialize)]
struct AddTasks {
    #[serde(default)]
    tasks: Vec<NewTask>,
}

#[derive(Deserialize)]
struct NewTask {
    #[serde(default)]
    summary: String,
}

/// `intercept`: a 2xx answer lets the request through to ONES.
fn guard(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let body: AddTasks = req.json()?;
    if let Some(index) = body
        .tasks
        .iter()
        .position(|task| task.summary.trim().is_empty())
    {
        return Err(
            PluginError::bad_request(format!("task {} has an empty summary", index + 1))
                .with_kind("task_guard")
                .warning(),
        );
    }
    Ok(PluginResponse::empty())
}

#[derive(Deserialize)]
struct Created {
    #[serde(default)]
    tasks: Vec<CreatedTask>,
}

#[derive(Deserialize)]
struct CreatedTask {
    uuid: String,
}

/// `subscribe`: told ONES's answer after the client has it.
fn log_created(req: PluginRequest) -> Result<PluginResponse, PluginError> {
    let Some(answer) = &req.upstream else {
        return Ok(PluginResponse::empty());
    };
    let created: Created = op_plugin_sdk::serde_json::from_slice(&answer.body)
        .unwrap_or(Created { tasks: Vec::new() });
    let uuids: Vec<&str> = created.tasks.iter().map(|t| t.uuid.as_str()).collect();
    Logger::info(format!("tasks created: {}", uuids.join(", ")));
    Ok(PluginResponse::empty())
}

op_plugin_sdk::export_functions! {
    guard,
    log_created as "logCreated",
}
