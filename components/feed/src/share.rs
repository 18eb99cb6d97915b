//! Share pages: `/v/{id}` is the demo page with the video named in its head, so a link pasted
//! into a chat app or a social site unfurls (title, description, cover) without running script,
//! and the same page then opens the video. `/oembed` describes the same link as oEmbed JSON.
//! Pure: the handlers in `endpoints/share.rs` read the record and pass what is shown.

use std::fmt::Write;

use edge_http::text::{encode_component, escape_html as escape};
use serde::Serialize;

/// The demo page, whose head a share page fills in (the same file static-files serves at `/`).
const TEMPLATE: &str = include_str!("../../../web/index.html");

/// What a share page shows: one video, as anyone may see it.
#[derive(Debug, Clone)]
pub(crate) struct Shared<'a> {
    /// The video's id.
    pub id: u64,
    /// Its title.
    pub title: &'a str,
    /// Its description (may be empty).
    pub description: &'a str,
    /// The author's name, when the account is still there.
    pub author: Option<&'a str>,
    /// Its cover's path on this site (`/videos/{id}/cover?v=...`), if it has one.
    pub cover: Option<&'a str>,
}

/// Longest description a preview carries, in characters; unfurlers cut about here anyway.
const DESCRIPTION_MAX: usize = 200;

/// The name the site goes by in previews.
pub(crate) const SITE_NAME: &str = "video-edge";

/// The page at `/v/{id}`'s own URL.
pub(crate) fn page_url(origin: &str, id: u64) -> String {
    format!("{origin}/v/{id}")
}

/// The share page for `video`, on the site at `origin` (`https://host`).
pub(crate) fn page(origin: &str, video: &Shared) -> String {
    let url = page_url(origin, video.id);
    let description = preview(video);
    let mut head = String::new();
    let mut meta = |attribute: &str, name: &str, content: &str| {
        let _ = writeln!(head, r#"  <meta {attribute}="{name}" content="{}">"#, escape(content));
    };
    meta("name", "description", &description);
    meta("property", "og:site_name", SITE_NAME);
    meta("property", "og:type", "video.other");
    meta("property", "og:title", video.title);
    meta("property", "og:description", &description);
    meta("property", "og:url", &url);
    meta("name", "twitter:title", video.title);
    meta("name", "twitter:description", &description);
    if let Some(cover) = video.cover {
        let image = format!("{origin}{cover}");
        meta("property", "og:image", &image);
        meta("name", "twitter:image", &image);
        meta("name", "twitter:card", "summary_large_image");
    } else {
        meta("name", "twitter:card", "summary");
    }
    meta("name", "video-edge:video", &video.id.to_string());
    let oembed = format!("{origin}/oembed?url={}&format=json", encode_component(&url, false));
    let _ = writeln!(head, r#"  <link rel="canonical" href="{}">"#, escape(&url));
    let _ = writeln!(
        head,
        r#"  <link rel="alternate" type="application/json+oembed" href="{}" title="{}">"#,
        escape(&oembed),
        escape(video.title)
    );
    with_head(&format!("{} · {SITE_NAME}", video.title), &head)
}

/// The page for a video that does not exist (or no longer does), served with a 404.
pub(crate) fn missing() -> String {
    with_head(&format!("Video not found · {SITE_NAME}"), "  <meta name=\"robots\" content=\"noindex\">\n")
}

/// The demo page with `title` as its title and `head` added to its head.
fn with_head(title: &str, head: &str) -> String {
    let (before, rest) = TEMPLATE.split_once("<title>").expect("web/index.html has a <title>");
    let (_, after) = rest.split_once("</title>").expect("web/index.html closes its <title>");
    format!("{before}<title>{}</title>\n{head}{}", escape(title), after.trim_start_matches('\n'))
}

/// The description a preview shows: the video's own, shortened, else who posted it.
fn preview(video: &Shared) -> String {
    let own = video.description.split_whitespace().collect::<Vec<_>>().join(" ");
    if own.is_empty() {
        return match video.author {
            Some(author) => format!("A video by {author} on {SITE_NAME}"),
            None => format!("A video on {SITE_NAME}"),
        };
    }
    if own.chars().count() <= DESCRIPTION_MAX {
        return own;
    }
    own.chars().take(DESCRIPTION_MAX - 1).collect::<String>() + "…"
}

/// An oEmbed 1.0 answer (`type: link`: there is no embeddable player yet).
#[derive(Debug, Serialize)]
pub(crate) struct OEmbed<'a> {
    version: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    author_name: Option<&'a str>,
    provider_name: &'static str,
    provider_url: &'a str,
    cache_age: u64,
}

/// How long consumers may keep an oEmbed answer, seconds (a title can be edited).
const OEMBED_CACHE_SECS: u64 = 600;

/// The oEmbed answer for `video` on the site at `origin`.
pub(crate) fn oembed<'a>(origin: &'a str, video: &Shared<'a>) -> OEmbed<'a> {
    OEmbed {
        version: "1.0",
        kind: "link",
        title: video.title,
        author_name: video.author,
        provider_name: SITE_NAME,
        provider_url: origin,
        cache_age: OEMBED_CACHE_SECS,
    }
}

/// The video id a `url` given to `/oembed` names, if it is one of this site's share pages.
pub(crate) fn shared_id(origin: &str, url: &str) -> Option<u64> {
    let path = url.strip_prefix(origin)?.strip_prefix("/v/")?;
    crate::ids::parse_id(path.split(['?', '#']).next()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video<'a>(title: &'a str, description: &'a str) -> Shared<'a> {
        Shared { id: 42, title, description, author: Some("ann"), cover: Some("/videos/42/cover?v=3") }
    }

    #[test]
    fn the_head_names_the_video_for_unfurlers() {
        let html = page("https://v.example", &video("Rust on the edge", "How it works."));
        assert!(html.contains("<title>Rust on the edge · video-edge</title>"), "{html}");
        assert!(html.contains(r#"<meta property="og:title" content="Rust on the edge">"#));
        assert!(html.contains(r#"<meta property="og:image" content="https://v.example/videos/42/cover?v=3">"#));
        assert!(html.contains(r#"<link rel="canonical" href="https://v.example/v/42">"#));
        assert!(html.contains(r#"href="https://v.example/oembed?url=https%3A%2F%2Fv.example%2Fv%2F42&amp;format=json""#), "{html}");
        assert_eq!(html.matches("<title>").count(), 1, "the template's own title is replaced");
        assert!(html.contains(r#"<script type="module" src="/app.js"></script>"#), "the page still boots the app");
    }

    #[test]
    fn everything_the_author_wrote_is_escaped() {
        let html = page("https://v.example", &video(r#"</title><script>alert(1)</script> "x" & 'y'"#, "<img src=x onerror=alert(2)>"));
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot; &amp; &#39;y&#39;"));
    }

    #[test]
    fn previews_are_short_and_never_empty() {
        assert_eq!(preview(&video("t", "")), "A video by ann on video-edge");
        assert_eq!(preview(&Shared { author: None, ..video("t", " ") }), "A video on video-edge");
        assert_eq!(preview(&video("t", "two\n\nlines")), "two lines");
        let long = "word ".repeat(100);
        let cut = preview(&video("t", &long));
        assert_eq!(cut.chars().count(), DESCRIPTION_MAX);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn oembed_takes_only_this_sites_share_pages() {
        assert_eq!(shared_id("https://v.example", "https://v.example/v/42"), Some(42));
        assert_eq!(shared_id("https://v.example", "https://v.example/v/42?t=3#x"), Some(42));
        for other in [
            "https://evil.example/v/42",
            "https://v.example/videos/42",
            "https://v.example/v/",
            "https://v.example/v/4x",
            "https://v.example.evil/v/1",
        ] {
            assert_eq!(shared_id("https://v.example", other), None, "{other}");
        }
        let answer = serde_json::to_value(oembed("https://v.example", &video("T", ""))).unwrap();
        assert_eq!((answer["version"].as_str(), answer["type"].as_str(), answer["title"].as_str()), (Some("1.0"), Some("link"), Some("T")));
    }

    #[test]
    fn a_missing_video_has_a_page_of_its_own() {
        let html = missing();
        assert!(html.contains("<title>Video not found · video-edge</title>"));
        assert!(html.contains(r#"<meta name="robots" content="noindex">"#));
    }
}
