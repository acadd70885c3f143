//! The embedded ONES simulator as a plugin author meets it: real HTTP on
//! loopback, credentials required, state kept across restarts.

mod common;

use common::{SignedAs, client, json};
use op::dev::simulator::Simulator;
use serde_json::json;

const P: &str = "/project/api/project";

fn auth(
    request: reqwest::RequestBuilder,
    user: &op::imports::Credentials,
) -> reqwest::RequestBuilder {
    request.signed_as(&user.user_id, &user.token)
}

#[tokio::test]
async fn the_simulator_answers_the_ones_apis_and_needs_credentials() {
    let sim = Simulator::start(None).await.unwrap();
    let url = sim.url();
    let team = sim.team_uuid();
    let alice = sim.sample_user();

    let res = client()
        .get(format!("{url}{P}/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(json(res).await["errcode"], "AuthFailure");
    let res = client()
        .get(format!("{url}{P}/users/me"))
        .signed_as(&alice.user_id, "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let me = json(
        auth(client().get(format!("{url}{P}/users/me")), &alice)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        me,
        json!({"uuid": alice.user_id, "name": "Alice", "email": "alice@example.com"})
    );

    let projects = json(
        auth(
            client().post(format!("{url}{P}/team/{team}/items/view")),
            &alice,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(projects["total"], 2);
    assert_eq!(projects["items"][0]["name"], "Apollo");
    let res = auth(
        client().post(format!("{url}{P}/team/OtherTm/items/view")),
        &alice,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 403);

    let added = json(
        auth(client().post(format!("{url}{P}/team/{team}/tasks/add2")), &alice)
            .body(r#"{"tasks":[{"summary":"Write docs","project_uuid":"ProjApol"},{"summary":"","project_uuid":"ProjApol"}]}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(added["tasks"][0]["summary"], "Write docs");
    assert_eq!(added["bad_tasks"][0]["error"], "summary is empty");
    let task = added["tasks"][0]["uuid"].as_str().unwrap().to_string();
    let info = json(
        auth(
            client().get(format!("{url}{P}/team/{team}/task/{task}/info")),
            &alice,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(info["summary"], "Write docs");
    assert_eq!(info["owner"], alice.user_id.as_str());
    let res = auth(
        client().get(format!("{url}{P}/team/{team}/task/Nope0000/info")),
        &alice,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 404);

    let page = json(
        auth(
            client().get(format!("{url}/wiki/api/wiki/team/{team}/page/PageWelc")),
            &alice,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(page["title"], "Welcome");
}

#[tokio::test]
async fn install_issues_a_super_admin_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("simulator.json");
    let sim = Simulator::start(Some(file.clone())).await.unwrap();
    let admin = sim.install("myplugin");
    assert_eq!(
        sim.install("myplugin"),
        admin,
        "installing again keeps the same super-admin"
    );
    let me = json(
        auth(client().get(format!("{}{P}/users/me", sim.url())), &admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["uuid"], admin.user_id.as_str());
    assert!(
        !me.to_string().contains(&admin.token),
        "users/me does not echo the token"
    );
    let alice = sim.sample_user();
    drop(sim);

    let again = Simulator::start(Some(file)).await.unwrap();
    assert_eq!(again.install("myplugin"), admin);
    assert_eq!(again.sample_user(), alice);
    let res = auth(client().get(format!("{}{P}/users/me", again.url())), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
