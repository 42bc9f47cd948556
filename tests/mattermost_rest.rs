//! The Mattermost dialect's REST API (seeds/002): login and sessions, users, teams, channels
//! and members, each answer and refusal compared as exact JSON, as Client4 receives them.

mod common;
mod mm;

use common::TestApp;
use mm::{add_user, assert_error, call, fix_times, is_id, login, reply, sqlite_url, user, world};
use serde_json::json;

#[tokio::test]
async fn login_answers_the_user_with_the_token_in_a_header_and_a_cookie() {
    let app = TestApp::spawn();
    let id = add_user(&sqlite_url(&app), "alice", "alice-pw");
    let r = call(
        &app,
        "POST",
        "/users/login",
        None,
        Some(json!({"login_id": "alice", "password": "alice-pw", "token": "", "deviceId": ""})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, user(&r.json, &id, "alice"));
    let token = r.header("token").to_string();
    assert!(is_id(&json!(token)), "Token header {token:?}");
    let cookies: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("MMAUTHTOKEN={token};"))
                && c.contains("HttpOnly")
                && c.contains("Path=/")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("MMUSERID={id};"))),
        "{cookies:?}"
    );

    let wrong = call(
        &app,
        "POST",
        "/users/login",
        None,
        Some(json!({"login_id": "alice", "password": "nope!"})),
    )
    .await;
    assert_error(
        &wrong,
        401,
        "api.user.login.invalid_credentials_email_username",
        "Enter a valid email or username and/or password.",
    );
    let nobody = call(
        &app,
        "POST",
        "/users/login",
        None,
        Some(json!({"login_id": "zed", "password": "alice-pw"})),
    )
    .await;
    assert_error(
        &nobody,
        401,
        "api.user.login.invalid_credentials_email_username",
        "Enter a valid email or username and/or password.",
    );
    let blank = call(
        &app,
        "POST",
        "/users/login",
        None,
        Some(json!({"login_id": "alice", "password": ""})),
    )
    .await;
    assert_error(
        &blank,
        400,
        "api.user.login.blank_pwd.app_error",
        "Password field must not be blank",
    );
    let garbage = reply(
        reqwest::Client::new()
            .post(app.url("/api/v4/users/login"))
            .body("{not json"),
    )
    .await;
    assert_error(
        &garbage,
        400,
        "api.context.invalid_body_param.app_error",
        "Invalid or missing login_id in request body.",
    );
}

#[tokio::test]
async fn a_session_token_is_read_from_header_cookie_or_query_and_ends_at_logout() {
    let app = TestApp::spawn();
    let id = add_user(&sqlite_url(&app), "alice", "alice-pw");
    let token = login(&app, "alice", "alice-pw").await;
    let me = app.url("/api/v4/users/me");
    let http = reqwest::Client::new();
    let expected = |got: &serde_json::Value| user(got, &id, "alice");
    for req in [
        http.get(&me)
            .header("Authorization", format!("Bearer {token}")),
        http.get(&me)
            .header("Authorization", format!("BEARER {token}")),
        http.get(&me)
            .header("Authorization", format!("Token {token}")),
        http.get(format!("{me}?access_token={token}")),
        http.get(&me)
            .header("Cookie", format!("MMAUTHTOKEN={token}"))
            .header("X-Requested-With", "XMLHttpRequest"),
    ] {
        let r = reply(req).await;
        assert_eq!((r.status, &r.json), (200, &expected(&r.json)));
    }
    // A cookie alone is what a cross-site page would send: not enough.
    let csrf = reply(
        http.get(&me)
            .header("Cookie", format!("MMAUTHTOKEN={token}")),
    )
    .await;
    assert_error(
        &csrf,
        401,
        "api.context.session_expired.app_error",
        "Invalid or expired session, please login again.",
    );
    let none = call(&app, "GET", "/users/me", None, None).await;
    assert_error(
        &none,
        401,
        "api.context.session_expired.app_error",
        "Invalid or expired session, please login again.",
    );
    let forged = call(
        &app,
        "GET",
        "/users/me",
        Some("ybndrfg8ejkmcpqxot1uwisza3"),
        None,
    )
    .await;
    assert_error(
        &forged,
        401,
        "api.context.session_expired.app_error",
        "Invalid or expired session, please login again.",
    );

    let out = call(&app, "POST", "/users/logout", Some(&token), None).await;
    assert_eq!((out.status, out.json), (200, json!({"status": "OK"})));
    let after = call(&app, "GET", "/users/me", Some(&token), None).await;
    assert_error(
        &after,
        401,
        "api.context.session_expired.app_error",
        "Invalid or expired session, please login again.",
    );
}

#[tokio::test]
async fn users_by_ids_and_by_id() {
    let app = TestApp::spawn();
    let db = sqlite_url(&app);
    let (alice, bob) = (
        add_user(&db, "alice", "alice-pw"),
        add_user(&db, "bob", "bob-pw1"),
    );
    let token = login(&app, "alice", "alice-pw").await;
    let r = call(
        &app,
        "POST",
        "/users/ids",
        Some(&token),
        Some(json!([bob, "ybndrfg8ejkmcpqxot1uwisza3"])),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!([user(&r.json[0], &bob, "bob")]));
    let one = call(&app, "GET", &format!("/users/{alice}"), Some(&token), None).await;
    assert_eq!(one.json, user(&one.json, &alice, "alice"));
    let bad = call(&app, "POST", "/users/ids", Some(&token), Some(json!(["x"]))).await;
    assert_error(
        &bad,
        400,
        "api.context.invalid_param.app_error",
        "Invalid user_ids parameter.",
    );
    let empty = call(&app, "POST", "/users/ids", Some(&token), Some(json!([]))).await;
    assert_error(
        &empty,
        400,
        "api.context.invalid_param.app_error",
        "Invalid user_ids parameter.",
    );
    let missing = call(
        &app,
        "GET",
        "/users/ybndrfg8ejkmcpqxot1uwisza3",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn teams_and_channels_with_their_members() {
    let app = TestApp::spawn();
    let db = sqlite_url(&app);
    let w = world(&app, &db).await;
    let (alice, bob) = (&w.alice.1, &w.bob.1);
    let team = call(&app, "GET", &format!("/teams/{}", w.team), Some(bob), None).await;
    let mut expected = json!({
        "id": w.team, "create_at": 0, "update_at": 0, "delete_at": 0, "display_name": "Core", "name": "core",
        "description": "", "email": "", "type": "O", "company_name": "", "allowed_domains": "", "invite_id": "",
        "allow_open_invite": true
    });
    fix_times(&team.json, &mut expected, &["create_at", "update_at"]);
    assert_eq!((team.status, team.json), (200, expected.clone()));
    let mine = call(&app, "GET", "/users/me/teams", Some(bob), None).await;
    assert_eq!(mine.json, json!([expected]));

    let channel = call(
        &app,
        "GET",
        &format!("/channels/{}", w.channel),
        Some(bob),
        None,
    )
    .await;
    let mut expected = json!({
        "id": w.channel, "create_at": 0, "update_at": 0, "delete_at": 0, "team_id": w.team, "type": "O",
        "display_name": "Town Square", "name": "town-square", "header": "", "purpose": "", "last_post_at": 0,
        "total_msg_count": 0, "extra_update_at": 0, "creator_id": w.alice.0
    });
    fix_times(
        &channel.json,
        &mut expected,
        &["create_at", "update_at", "last_post_at"],
    );
    assert_eq!((channel.status, channel.json), (200, expected));

    let members = call(
        &app,
        "GET",
        &format!("/channels/{}/members", w.channel),
        Some(alice),
        None,
    )
    .await;
    assert_eq!(members.status, 200);
    let mut ids: Vec<&str> = members
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![w.alice.0.as_str(), w.bob.0.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let m = &members.json[0];
    let mut expected = json!({
        "channel_id": w.channel, "user_id": m["user_id"], "roles": "channel_user", "last_viewed_at": 0, "msg_count": 0,
        "mention_count": 0, "notify_props": {"desktop": "default", "email": "default", "ignore_channel_mentions": "default", "mark_unread": "all", "push": "default"},
        "last_update_at": 0, "scheme_guest": false, "scheme_user": true, "scheme_admin": false, "explicit_roles": ""
    });
    fix_times(m, &mut expected, &["last_update_at"]);
    assert_eq!(m, &expected);

    // Refusals, as Mattermost words them.
    let dup = call(
        &app,
        "POST",
        "/channels",
        Some(alice),
        Some(
            json!({"team_id": w.team, "name": "town-square", "display_name": "Again", "type": "O"}),
        ),
    )
    .await;
    assert_error(
        &dup,
        400,
        "store.sql_channel.save_channel.exists.app_error",
        "A channel with that name already exists on the same team",
    );
    let dup = call(
        &app,
        "POST",
        "/teams",
        Some(alice),
        Some(json!({"name": "core", "display_name": "Core", "type": "O"})),
    )
    .await;
    assert_error(
        &dup,
        400,
        "app.team.save.existing.app_error",
        "A team with that name already exists",
    );
    let bad = call(
        &app,
        "POST",
        "/teams",
        Some(alice),
        Some(json!({"name": "Core!", "display_name": "Core", "type": "O"})),
    )
    .await;
    assert_eq!(
        (bad.status, bad.json["id"].as_str()),
        (400, Some("model.team.is_valid.url.app_error"))
    );
    let bad = call(
        &app,
        "POST",
        "/channels",
        Some(alice),
        Some(json!({"team_id": w.team, "name": "x", "display_name": "X", "type": "Q"})),
    )
    .await;
    assert_error(
        &bad,
        400,
        "model.channel.is_valid.type.app_error",
        "Invalid type.",
    );
    let malformed = call(&app, "GET", "/channels/nope", Some(alice), None).await;
    assert_error(
        &malformed,
        400,
        "api.context.invalid_param.app_error",
        "Invalid channel_id parameter.",
    );
    let unknown = call(
        &app,
        "GET",
        "/channels/ybndrfg8ejkmcpqxot1uwisza3",
        Some(alice),
        None,
    )
    .await;
    assert_error(
        &unknown,
        404,
        "app.channel.get.existing.app_error",
        "Unable to find the existing channel.",
    );
    let secret = call(
        &app,
        "POST",
        "/channels",
        Some(alice),
        Some(json!({"team_id": w.team, "name": "secret", "display_name": "Secret", "type": "P"})),
    )
    .await;
    assert_eq!(secret.status, 201);
    let peek = call(
        &app,
        "GET",
        &format!("/channels/{}", secret.json["id"].as_str().unwrap()),
        Some(bob),
        None,
    )
    .await;
    assert_error(
        &peek,
        403,
        "api.context.permissions.app_error",
        "You do not have the appropriate permissions.",
    );
    let carol = add_user(&db, "carol", "carol-pw");
    let outsider = call(
        &app,
        "POST",
        &format!("/channels/{}/members", w.channel),
        Some(alice),
        Some(json!({"user_id": carol})),
    )
    .await;
    assert_error(
        &outsider,
        400,
        "api.channel.add_user.to.channel.failed.app_error",
        "Failed to add user to channel.",
    );
    let nowhere = call(&app, "GET", "/no/such/thing", Some(alice), None).await;
    assert_error(
        &nowhere,
        404,
        "api.context.404.app_error",
        "Sorry, we could not find the page.",
    );
}
