//! The Mattermost dialect's REST API (seeds/002), continued: posts, a channel's pages and
//! viewing, on SQLite and PostgreSQL, compared as exact JSON, as Client4 receives them.

mod common;
mod mm;

use common::{fresh_pg_database, TestApp};
use mm::{assert_error, call, post, sqlite_url, world};
use serde_json::json;

#[tokio::test]
async fn posts_are_created_read_edited_patched_and_deleted_by_their_author() {
    let app = TestApp::spawn();
    let w = world(&app, &sqlite_url(&app)).await;
    let (alice, bob) = (&w.alice.1, &w.bob.1);
    let created = call(&app, "POST", "/posts", Some(alice), Some(json!({
        "channel_id": w.channel, "message": "hello #rust world", "root_id": "", "file_ids": [], "props": {},
        "pending_post_id": format!("{}:1700000000000", w.alice.0), "user_id": "ignored"
    }))).await;
    assert_eq!(created.status, 201, "{}", created.json);
    let mut expected = post(&created.json, &w.alice.0, &w.channel, "hello #rust world");
    expected["hashtags"] = json!("#rust");
    assert_eq!(
        expected["pending_post_id"],
        json!(format!("{}:1700000000000", w.alice.0))
    );
    assert_eq!(
        (
            created.json["edit_at"].clone(),
            created.json["is_pinned"].clone()
        ),
        (json!(0), json!(false))
    );
    assert_eq!(created.json, expected);
    let id = created.json["id"].as_str().unwrap().to_string();

    let got = call(&app, "GET", &format!("/posts/{id}"), Some(bob), None).await;
    assert_eq!((got.status, got.json), (200, expected.clone()));

    let edited = call(
        &app,
        "PUT",
        &format!("/posts/{id}"),
        Some(alice),
        Some(json!({"id": id, "message": "edited"})),
    )
    .await;
    assert_eq!(edited.status, 200);
    assert!(
        edited.json["edit_at"].as_i64().unwrap() >= created.json["create_at"].as_i64().unwrap()
    );
    assert_eq!(
        edited.json,
        post(&edited.json, &w.alice.0, &w.channel, "edited")
    );
    let pinned = call(
        &app,
        "PUT",
        &format!("/posts/{id}/patch"),
        Some(alice),
        Some(json!({"is_pinned": true})),
    )
    .await;
    assert_eq!(
        (
            pinned.json["is_pinned"].clone(),
            pinned.json["message"].clone()
        ),
        (json!(true), json!("edited"))
    );
    let mismatch = call(
        &app,
        "PUT",
        &format!("/posts/{id}"),
        Some(alice),
        Some(json!({"id": w.channel, "message": "x"})),
    )
    .await;
    assert_error(
        &mismatch,
        400,
        "api.context.invalid_param.app_error",
        "Invalid id parameter.",
    );
    let not_mine = call(
        &app,
        "PUT",
        &format!("/posts/{id}/patch"),
        Some(bob),
        Some(json!({"message": "mine now"})),
    )
    .await;
    assert_error(
        &not_mine,
        403,
        "api.context.permissions.app_error",
        "You do not have the appropriate permissions.",
    );
    let not_mine = call(&app, "DELETE", &format!("/posts/{id}"), Some(bob), None).await;
    assert_error(
        &not_mine,
        403,
        "api.context.permissions.app_error",
        "You do not have the appropriate permissions.",
    );

    let deleted = call(&app, "DELETE", &format!("/posts/{id}"), Some(alice), None).await;
    assert_eq!(
        (deleted.status, deleted.json),
        (200, json!({"status": "OK"}))
    );
    let gone = call(&app, "GET", &format!("/posts/{id}"), Some(alice), None).await;
    assert_error(
        &gone,
        404,
        "app.post.get.app_error",
        "Unable to get the post.",
    );

    let elsewhere = call(
        &app,
        "POST",
        "/posts",
        Some(alice),
        Some(json!({"channel_id": "ybndrfg8ejkmcpqxot1uwisza3", "message": "x"})),
    )
    .await;
    assert_error(
        &elsewhere,
        404,
        "app.channel.get.existing.app_error",
        "Unable to find the existing channel.",
    );
    let long = call(
        &app,
        "POST",
        "/posts",
        Some(alice),
        Some(json!({"channel_id": w.channel, "message": "x".repeat(16_384)})),
    )
    .await;
    assert_eq!(
        (long.status, long.json["id"].as_str()),
        (400, Some("model.post.is_valid.message_length.app_error"))
    );
    let bad_root = call(
        &app,
        "POST",
        "/posts",
        Some(alice),
        Some(json!({"channel_id": w.channel, "message": "x", "root_id": id})),
    )
    .await;
    assert_error(
        &bad_root,
        400,
        "api.post.create_post.root_id.app_error",
        "Invalid RootId parameter.",
    );
}

#[tokio::test]
async fn channel_posts_come_newest_first_in_pages_and_since_a_time() {
    let app = TestApp::spawn();
    let w = world(&app, &sqlite_url(&app)).await;
    let alice = &w.alice.1;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = call(
            &app,
            "POST",
            "/posts",
            Some(alice),
            Some(json!({"channel_id": w.channel, "message": format!("m{i}")})),
        )
        .await;
        assert_eq!(r.status, 201);
        ids.push(r.json["id"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let path = |q: &str| format!("/channels/{}/posts?{q}", w.channel);
    let page0 = call(
        &app,
        "GET",
        &path("page=0&per_page=2&skipFetchThreads=false&collapsedThreads=false"),
        Some(alice),
        None,
    )
    .await;
    assert_eq!(page0.status, 200);
    assert_eq!(page0.json["order"], json!([ids[4], ids[3]]));
    assert_eq!(
        page0.json["posts"][&ids[4]],
        post(&page0.json["posts"][&ids[4]], &w.alice.0, &w.channel, "m4")
    );
    assert_eq!(
        (
            page0.json["prev_post_id"].clone(),
            page0.json["next_post_id"].clone(),
            page0.json["has_next"].clone(),
            page0.json["first_inaccessible_post_time"].clone()
        ),
        (json!(ids[2]), json!(""), json!(false), json!(0))
    );
    let page2 = call(&app, "GET", &path("page=2&per_page=2"), Some(alice), None).await;
    assert_eq!(
        (
            page2.json["order"].clone(),
            page2.json["prev_post_id"].clone()
        ),
        (json!([ids[0]]), json!(""))
    );
    let before = call(
        &app,
        "GET",
        &path(&format!("before={}&per_page=2", ids[3])),
        Some(alice),
        None,
    )
    .await;
    assert_eq!(before.json["order"], json!([ids[2], ids[1]]));
    let after = call(
        &app,
        "GET",
        &path(&format!("after={}&per_page=2", ids[1])),
        Some(alice),
        None,
    )
    .await;
    assert_eq!(
        (
            after.json["order"].clone(),
            after.json["has_next"].clone(),
            after.json["next_post_id"].clone()
        ),
        (json!([ids[3], ids[2]]), json!(true), json!(ids[4]))
    );
    let since_ms = page0.json["posts"][&ids[3]]["create_at"].as_i64().unwrap();
    let since = call(
        &app,
        "GET",
        &path(&format!("since={since_ms}")),
        Some(alice),
        None,
    )
    .await;
    assert_eq!(since.json["order"], json!([ids[4]]));
    let bad = call(&app, "GET", &path("per_page=0"), Some(alice), None).await;
    assert_error(
        &bad,
        400,
        "api.context.invalid_param.app_error",
        "Invalid per_page parameter.",
    );
}

#[tokio::test]
async fn viewing_a_channel_marks_it_read() {
    let app = TestApp::spawn();
    let w = world(&app, &sqlite_url(&app)).await;
    let r = call(
        &app,
        "POST",
        "/posts",
        Some(&w.alice.1),
        Some(json!({"channel_id": w.channel, "message": "hi"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let view = call(
        &app,
        "POST",
        "/channels/members/me/view",
        Some(&w.bob.1),
        Some(json!({"channel_id": w.channel, "collapsed_threads_supported": true})),
    )
    .await;
    assert_eq!(view.status, 200);
    let at = view.json["last_viewed_at_times"][&w.channel]
        .as_i64()
        .expect("a time for the channel");
    assert_eq!(
        view.json,
        json!({"status": "OK", "last_viewed_at_times": {w.channel.clone(): at}})
    );
    let members = call(
        &app,
        "GET",
        &format!("/channels/{}/members", w.channel),
        Some(&w.bob.1),
        None,
    )
    .await;
    let bob = members
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == json!(w.bob.0))
        .unwrap();
    assert_eq!(
        (bob["last_viewed_at"].as_i64(), bob["msg_count"].as_i64()),
        (Some(at), Some(1))
    );
}

#[tokio::test]
async fn the_api_runs_on_postgres_too() {
    let Some(url) = fresh_pg_database() else {
        return;
    };
    let app = TestApp::on_bus(
        &[],
        realtime_hub::relay::local::LocalBus::default(),
        Some(url.clone()),
    );
    let w = world(&app, &url).await;
    let created = call(
        &app,
        "POST",
        "/posts",
        Some(&w.bob.1),
        Some(json!({"channel_id": w.channel, "message": "from postgres"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let list = call(
        &app,
        "GET",
        &format!("/channels/{}/posts", w.channel),
        Some(&w.alice.1),
        None,
    )
    .await;
    let id = created.json["id"].as_str().unwrap();
    assert_eq!(list.json["order"], json!([id]));
    assert_eq!(
        list.json["posts"][id],
        post(&created.json, &w.bob.0, &w.channel, "from postgres")
    );
}
