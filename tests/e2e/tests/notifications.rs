//! Notifications: likes on a video aggregate into one group counted per person, the author's own
//! like notifies nobody, comments and replies form their own groups, and the unread count
//! follows a read watermark.

use std::sync::OnceLock;

use e2e::{json, receipt, unique, App, AppOptions, Reply, Value};

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| App::start(AppOptions::default()))
}

fn call(token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let reply = app().call(Some(token), method, path, body);
    assert!(reply.status < 300, "{method} {path}: {} {}", reply.status, reply.text());
    reply
}

/// An author with one video: (token, video id).
fn author_with_video(title: &str) -> (String, u64) {
    let author = unique("author");
    let token = e2e::access_token(&author);
    let video = call(&token, "POST", "/videos", Some(json!({ "receipt": receipt(&author), "title": title }))).json();
    (token, video["id"].as_u64().unwrap())
}

fn unread(token: &str) -> Value {
    call(token, "GET", "/feed/notifications/unread", None).json()["unread"].clone()
}

#[test]
fn likes_aggregate_per_video_and_unread_follows_the_read_watermark() {
    let (author, video) = author_with_video("liked a lot");
    call(&author, "PUT", &format!("/videos/{video}/like"), None);
    assert_eq!(unread(&author), 0, "your own like notifies nobody");
    let likers: Vec<String> = (0..12).map(|i| unique(&format!("liker{i}"))).collect();
    for liker in &likers {
        call(&e2e::access_token(liker), "PUT", &format!("/videos/{video}/like"), None);
    }
    call(&e2e::access_token(&likers[0]), "PUT", &format!("/videos/{video}/like"), None);
    assert_eq!(unread(&author), 1, "one group");
    let page = call(&author, "GET", "/feed/notifications", None).json();
    let group = &page["items"][0];
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!((group["kind"].clone(), group["video_id"].clone(), group["count"].clone()), (json!("like-video"), json!(video), json!(12)));
    assert_eq!(group["video_title"], "liked a lot");
    assert_eq!(group["actors"], json!([likers[11], likers[10], likers[9]]), "the latest three, newest first");
    assert_eq!(group["unread"], true);

    assert_eq!(call(&author, "POST", "/feed/notifications/read", None).json()["unread"], 0);
    assert_eq!(unread(&author), 0);
    assert_eq!(call(&author, "GET", "/feed/notifications", None).json()["items"][0]["unread"], false);
    call(&e2e::access_token(&unique("late")), "PUT", &format!("/videos/{video}/like"), None);
    assert_eq!(unread(&author), 1, "the group grew after the read");
    assert_eq!(call(&author, "GET", "/feed/notifications", None).json()["items"][0]["count"], 13);
}

#[test]
fn groups_page_most_recent_first_and_belong_to_their_author_only() {
    let (author, first) = author_with_video("first");
    let (_, other) = author_with_video("someone else's");
    let fan = e2e::access_token(&unique("fan"));
    call(&fan, "PUT", &format!("/videos/{first}/like"), None);
    call(&fan, "PUT", &format!("/videos/{other}/like"), None);
    let page = call(&author, "GET", "/feed/notifications?limit=1", None).json();
    assert_eq!(page["items"][0]["video_id"], first);
    let next = page["next_cursor"].as_str().expect("a full page has a cursor");
    let rest = call(&author, "GET", &format!("/feed/notifications?limit=1&cursor={next}"), None).json();
    assert_eq!(rest["items"], json!([]), "the like on someone else's video is theirs");
    assert_eq!(app().call(None, "GET", "/feed/notifications", None).status, 401);
    assert_eq!(app().call(Some(&author), "GET", "/feed/notifications?limit=51", None).json()["code"], "invalid-limit");
}

#[test]
fn comments_and_replies_notify_the_video_author_and_the_comment_author() {
    let (author, video) = author_with_video("discussed");
    let (ann, bob) = (e2e::access_token(&unique("ann")), e2e::access_token(&unique("bob")));
    let path = format!("/videos/{video}/comments");
    let root = call(&ann, "POST", &path, Some(json!({ "text": "first!" }))).json()["id"].as_u64().unwrap();
    call(&bob, "POST", &path, Some(json!({ "text": "I agree", "parent_id": root })));
    call(&bob, "PUT", &format!("{path}/{root}/like"), None);
    call(&ann, "PUT", &format!("{path}/{root}/like"), None);
    let kinds = |token: &str| -> Vec<(String, u64)> {
        let page = call(token, "GET", "/feed/notifications", None).json();
        page["items"].as_array().unwrap().iter().map(|n| (n["kind"].as_str().unwrap().to_owned(), n["count"].as_u64().unwrap())).collect()
    };
    assert_eq!(kinds(&author), [("comment".to_owned(), 2)], "two people commented on the author's video");
    assert_eq!(
        kinds(&ann),
        [("like-comment".to_owned(), 1), ("reply".to_owned(), 1)],
        "ann's comment got a reply and a like (her own like notifies nobody)"
    );
    let reply = &call(&ann, "GET", "/feed/notifications", None).json()["items"][1];
    assert_eq!((reply["comment_id"].clone(), reply["video_id"].clone()), (json!(root), json!(video)));
    assert_eq!(unread(&bob), 0);
}
