//! Share pages end to end on Spin: `/v/<id>` fetched as a link unfurler fetches it (plain HTTP, no
//! script) and read with a real HTML parser (html5ever, through scraper), its oEmbed, the
//! not-found page, and escaping of everything an author wrote.

use std::sync::OnceLock;

use e2e::{json, receipt, unique, App, AppOptions, Value};
use scraper::{Html, Selector};

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| App::start(AppOptions::default()))
}

/// A registered author: (token, user id, username).
fn author() -> (String, String, String) {
    let username = unique("sh");
    let reply = app().request("POST", "/auth/register").json(&json!({ "username": username, "password": "share password" }));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    (body["access_token"].as_str().unwrap().to_owned(), body["user"]["id"].as_str().unwrap().to_owned(), username)
}

fn publish(token: &str, owner: &str, title: &str, description: &str) -> Value {
    let body = json!({ "receipt": receipt(owner), "title": title, "description": description });
    let reply = app().request("POST", "/videos").header("authorization", &format!("Bearer {token}")).json(&body);
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

/// The page as a crawler sees it: status, content type and parsed document.
fn crawl(path: &str) -> (u16, String, Html) {
    let reply = app().request("GET", path).header("user-agent", "Slackbot-LinkExpanding 1.0").send(None);
    (reply.status, reply.header("content-type").unwrap_or_default().to_owned(), Html::parse_document(&reply.text()))
}

fn meta(page: &Html, attribute: &str, name: &str) -> Option<String> {
    let selector = Selector::parse(&format!(r#"meta[{attribute}="{name}"]"#)).unwrap();
    page.select(&selector).next().and_then(|m| m.value().attr("content")).map(str::to_owned)
}

fn link(page: &Html, rel: &str) -> Option<String> {
    page.select(&Selector::parse(&format!(r#"link[rel="{rel}"]"#)).unwrap()).next().and_then(|l| l.value().attr("href")).map(str::to_owned)
}

fn title(page: &Html) -> String {
    page.select(&Selector::parse("title").unwrap()).map(|t| t.text().collect::<String>()).collect::<Vec<_>>().join("|")
}

#[test]
fn a_pasted_link_unfurls_with_title_description_and_cover() {
    let (token, owner, username) = author();
    let video = publish(&token, &owner, "Rust at the edge", "How a video platform runs on Spin.");
    let id = video["id"].as_u64().unwrap();
    let (status, content_type, page) = crawl(&format!("/v/{id}"));
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(title(&page), "Rust at the edge · video-edge");
    assert_eq!(meta(&page, "property", "og:title").as_deref(), Some("Rust at the edge"));
    assert_eq!(meta(&page, "property", "og:description").as_deref(), Some("How a video platform runs on Spin."));
    let url = format!("{}/v/{id}", app().url);
    assert_eq!(meta(&page, "property", "og:url").as_deref(), Some(url.as_str()));
    assert_eq!(link(&page, "canonical").as_deref(), Some(url.as_str()));
    assert_eq!(meta(&page, "name", "twitter:card").as_deref(), Some("summary"), "no cover: the small card");
    assert!(meta(&page, "property", "og:image").is_none());
    // The page is the app's: it still loads the script that opens the video.
    let scripts: Vec<_> = page.select(&Selector::parse("script[src]").unwrap()).filter_map(|s| s.value().attr("src")).collect();
    assert_eq!(scripts, ["/app.js"]);

    // oEmbed, found through the page's discovery link.
    let discovery = page
        .select(&Selector::parse(r#"link[type="application/json+oembed"]"#).unwrap())
        .next()
        .and_then(|l| l.value().attr("href"))
        .map(str::to_owned)
        .unwrap();
    let oembed = app().request("GET", discovery.strip_prefix(&app().url).unwrap()).send(None);
    assert_eq!(oembed.status, 200, "{}", oembed.text());
    let described = oembed.json();
    assert_eq!((described["version"].as_str(), described["type"].as_str()), (Some("1.0"), Some("link")));
    assert_eq!(described["title"], "Rust at the edge");
    assert_eq!(described["author_name"], username.as_str());
}

/// A 2×1 crimson PNG.
const RED_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x01\x08\x02\0\0\0\x7b\x40\xe8\xdd\0\0\0\x0dIDAT\x78\xda\x63\xb8\x23\x62\x03\x44\0\x09\x7b\x02\x59\xc9\x22\x0f\xc4\0\0\0\0IEND\xae\x42\x60\x82";

#[test]
fn the_cover_is_the_preview_image_at_an_absolute_url() {
    let (token, owner, username) = author();
    let bearer = format!("Bearer {token}");
    let form = app()
        .request("POST", "/uploads/form")
        .header("authorization", &bearer)
        .json(&json!({ "filename": "cover.png", "size": RED_PNG.len(), "content_type": "image/png" }))
        .json();
    let stored = e2e::post_form(form["url"].as_str().unwrap(), &e2e::form_fields(&form["fields"]), RED_PNG);
    assert!((200..300).contains(&stored.status), "{} {}", stored.status, stored.text());
    let key = form["key"].as_str().unwrap();
    let checked = app().request("POST", "/uploads/covers").header("authorization", &bearer).json(&json!({ "key": key }));
    assert_eq!(checked.status, 200, "{}", checked.text());
    let body = json!({ "receipt": receipt(&owner), "title": "With a cover", "cover_key": key });
    let video = app().request("POST", "/videos").header("authorization", &bearer).json(&body);
    assert_eq!(video.status, 201, "{}", video.text());
    let video = video.json();
    let id = video["id"].as_u64().unwrap();
    let cover = video["cover_url"].as_str().expect("the video has a cover");

    let (_, _, page) = crawl(&format!("/v/{id}"));
    let image = meta(&page, "property", "og:image").expect("og:image");
    assert_eq!(image, format!("{}{cover}", app().url));
    assert_eq!(meta(&page, "name", "twitter:image").as_deref(), Some(image.as_str()));
    assert_eq!(meta(&page, "name", "twitter:card").as_deref(), Some("summary_large_image"));
    assert_eq!(
        meta(&page, "property", "og:description"),
        Some(format!("A video by {username} on video-edge")),
        "no description: who posted it"
    );
    // What an unfurler fetches next: the picture itself, through the redirects, without a token.
    let picture = app().request("GET", image.strip_prefix(&app().url).unwrap()).send(None);
    assert_eq!(picture.status, 200);
    assert_eq!(picture.body, RED_PNG);
}

#[test]
fn what_the_author_wrote_cannot_become_markup() {
    let (token, owner, _) = author();
    let hostile = r#"</title><script>alert(1)</script> "quoted" & 'single'"#;
    let id = publish(&token, &owner, hostile, r#""><img src=x onerror=alert(2)>"#)["id"].as_u64().unwrap();
    let (status, _, page) = crawl(&format!("/v/{id}"));
    assert_eq!(status, 200);
    assert_eq!(title(&page), format!("{hostile} · video-edge"), "the title is text, whole");
    assert_eq!(meta(&page, "property", "og:title").as_deref(), Some(hostile));
    assert_eq!(page.select(&Selector::parse("script").unwrap()).count(), 1, "only the app's own script");
    assert_eq!(page.select(&Selector::parse("img").unwrap()).count(), 0);
    assert_eq!(meta(&page, "property", "og:description").as_deref(), Some(r#""><img src=x onerror=alert(2)>"#));
}

#[test]
fn missing_deleted_and_malformed_videos_get_the_not_found_page() {
    let (token, owner, _) = author();
    let id = publish(&token, &owner, "Soon gone", "")["id"].as_u64().unwrap();
    let deleted = app().request("DELETE", &format!("/videos/{id}")).header("authorization", &format!("Bearer {token}")).send(None);
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    for path in
        [format!("/v/{id}"), "/v/9007199254740991".to_owned(), "/v/0".to_owned(), "/v/abc".to_owned(), "/v/1%3Cscript%3E".to_owned()]
    {
        let (status, content_type, page) = crawl(&path);
        assert_eq!(status, 404, "{path}");
        assert!(content_type.starts_with("text/html"), "{path}: {content_type}");
        assert_eq!(title(&page), "Video not found · video-edge", "{path}");
        assert_eq!(meta(&page, "name", "robots").as_deref(), Some("noindex"));
    }
    let url = |u: &str| format!("/oembed?url={}&format=json", u.replace(':', "%3A").replace('/', "%2F"));
    let gone = app().request("GET", &url(&format!("{}/v/{id}", app().url))).send(None);
    assert_eq!((gone.status, gone.json()["code"].as_str()), (404, Some("not-a-share-page")));
    let elsewhere = app().request("GET", &url(&format!("https://elsewhere.example/v/{id}"))).send(None);
    assert_eq!(elsewhere.status, 404);
    let xml = app().request("GET", "/oembed?url=x&format=xml").send(None);
    assert_eq!((xml.status, xml.json()["code"].as_str()), (400, Some("oembed-format")));
    assert_eq!(app().request("GET", "/oembed").send(None).status, 400, "no url");
}
