//! The demo page in a real browser: Debian's headless chromium, driven through chromium-driver,
//! on Spin with every component (the page itself served by static-files), real Redis,
//! and the S3 server behind `scripts/s3-cors` (nginx), as `scripts/up` runs them.

use std::io::Write;
use std::time::{Duration, Instant};

use e2e::webdriver::Browser;
use e2e::{receipt, unique, App, AppOptions, Services, TempDir};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Three parts: 5 MiB, 5 MiB and the rest.
const FILE_BYTES: usize = 12 * 1024 * 1024 + 123;
/// Upload speed while the test pauses and reloads mid-upload: a part takes about 2.5 s.
const SLOW_BYTES_PER_SEC: u64 = 2_000_000;

fn random_file(dir: &TempDir) -> (std::path::PathBuf, String) {
    let path = dir.path().join("holiday clip.mp4");
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ std::process::id() as u64;
    let mut bytes = Vec::with_capacity(FILE_BYTES);
    while bytes.len() < FILE_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(FILE_BYTES);
    bytes[..e2e::MP4_FTYP.len()].copy_from_slice(&e2e::MP4_FTYP);
    std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
    (path, format!("{:x}", Sha256::digest(&bytes)))
}

fn status(browser: &Browser) -> Value {
    browser.run("const s = document.getElementById('upload-status'); return {phase: s.dataset.phase, parts: Number(s.dataset.partsDone ?? 0), outcome: s.dataset.outcome ?? null, text: s.textContent};", json!([]))
}

fn upload(browser: &Browser, file: &std::path::Path, title: &str, parallelism: &str) {
    browser.find("#file").type_text(file.to_str().unwrap());
    let title_box = browser.find("#title");
    title_box.clear();
    title_box.type_text(title);
    let parallel = browser.find("#parallelism");
    parallel.clear();
    parallel.type_text(parallelism);
    browser.click("#upload-start");
}

/// Opens the page at `url` and signs up as `username` through its form.
fn sign_up(browser: &Browser, url: &str, username: &str) {
    browser.open(url);
    browser.wait("the sign-in form", 30, "!document.getElementById('auth-form').hidden", STATUS);
    browser.find("#username").type_text(username);
    browser.find("#password").type_text("browser password");
    browser.click("#sign-up");
    browser.wait("the signed-in user", 15, &format!("document.getElementById('whoami-name').textContent === '{username}'"), STATUS);
}

const STATUS: &str = "document.getElementById('upload-status').textContent + ' | ' + document.getElementById('toast').textContent";

#[test]
fn the_demo_page_signs_up_uploads_resumes_plays_and_searches() {
    let services = Services::isolated();
    let (_proxy, s3_endpoint) = services.s3_cors();
    // The ranking is read uncached so a like shows in it at once.
    let env = vec![("SPIN_VARIABLE_S3_ENDPOINT".into(), s3_endpoint), ("SPIN_VARIABLE_RANKING_CACHE_SECS".into(), "0".into())];
    let app = App::start(AppOptions { env, services: Some(&services), ..AppOptions::default() });
    let dir = TempDir::new("browser");
    let (file, sha256) = random_file(&dir);
    let browser = Browser::start("demo-page");
    let username = unique("web");
    let word = unique("kestrel").replace(['-', '_'], "");

    // Sign up.
    sign_up(&browser, &app.url, &username);

    // Upload slowly, one part at a time; pause and resume; reload with parts still missing.
    browser.throttle(Some(SLOW_BYTES_PER_SEC));
    upload(&browser, &file, &format!("First {word} upload"), "1");
    browser.wait("the first part stored", 60, "document.getElementById('upload-status').dataset.partsDone >= 1", STATUS);
    browser.click("#upload-pause");
    browser.wait("the upload paused", 10, "document.getElementById('upload-status').dataset.phase === 'paused'", STATUS);
    let paused = status(&browser);
    assert!(paused["text"].as_str().unwrap().starts_with("Paused at"), "{paused}");
    assert_eq!(browser.text("#upload-pause"), "Resume");
    browser.click("#upload-pause");
    browser.wait("the upload going again", 10, "document.getElementById('upload-status').dataset.phase === 'uploading'", STATUS);
    let before_reload = status(&browser);
    assert!(before_reload["parts"].as_u64().unwrap() < 3, "the upload must still be unfinished: {before_reload}");
    browser.reload();

    // The session survives the reload (refresh cookie); the unfinished upload is offered, and
    // choosing the file again resumes it from the server's list of parts.
    browser.wait("the session restored", 15, &format!("document.getElementById('whoami-name').textContent === '{username}'"), STATUS);
    browser.wait(
        "the unfinished upload offered",
        5,
        "document.getElementById('unfinished').textContent.includes('holiday clip.mp4')",
        "document.getElementById('unfinished').textContent",
    );
    browser.throttle(None);
    upload(&browser, &file, &format!("First {word} upload"), "4");
    browser.wait("the resumed upload published", 60, "document.getElementById('upload-status').dataset.outcome", STATUS);
    let resumed = status(&browser);
    assert_eq!(resumed["outcome"], "resumed", "{resumed}");
    assert_eq!(browser.text("#unfinished"), "", "a finished upload is no longer offered");

    // The player got the new video; its source redirects to the stored bytes.
    browser.wait(
        "the player loaded",
        15,
        "document.getElementById('video').src.includes('/uploads/play?ticket=')",
        "document.getElementById('video').src",
    );
    let fetched = browser.run_async(
        "const done = arguments[arguments.length - 1];
         fetch(document.getElementById('video').src).then(r => r.arrayBuffer()).then(b => crypto.subtle.digest('SHA-256', b))
           .then(h => done([...new Uint8Array(h)].map(x => x.toString(16).padStart(2, '0')).join(''))).catch(e => done(String(e)));",
        json!([]),
    );
    assert_eq!(fetched, json!(sha256), "the played object is the uploaded file");
    let forged = app.request("GET", "/uploads/play?ticket=e30.AAAA").send(None);
    assert_eq!((forged.status, forged.json()["code"].as_str()), (403, Some("invalid-ticket")), "only feed's tickets play");
    let first_id = browser.run("return document.getElementById('player').dataset.videoId;", json!([])).as_str().unwrap().to_owned();

    // The same file again finishes instantly (possession proven, no bytes sent).
    upload(&browser, &file, &format!("Second {word} upload"), "4");
    browser.wait("the second upload published", 60, "document.getElementById('upload-status').dataset.outcome", STATUS);
    let instant = status(&browser);
    assert_eq!(instant["outcome"], "instant", "{instant}");
    browser.wait(
        "the player on the second video",
        15,
        &format!("document.getElementById('player').dataset.videoId && document.getElementById('player').dataset.videoId !== '{first_id}'"),
        "document.getElementById('player-title').textContent",
    );
    let video_id = browser.run("return document.getElementById('player').dataset.videoId;", json!([])).as_str().unwrap().to_owned();

    // A danmaku flies over the video and is stored.
    let danmaku = format!("{word} 好看");
    browser.find("#danmaku-text").type_text(&danmaku);
    browser.click("#danmaku-send");
    browser.wait(
        "the danmaku flying",
        10,
        &format!("[...document.querySelectorAll('#danmaku-layer .danmaku')].some(d => d.textContent === '{danmaku}')"),
        STATUS,
    );
    let stored = app.request("GET", &format!("/videos/{video_id}/danmaku?segment=0")).send(None).json();
    assert!(stored["items"].as_array().unwrap().iter().any(|d| d["text"] == danmaku.as_str()), "{stored}");

    // Like: the button, the count and the 24 h ranking follow.
    browser.click("#like");
    browser.wait("the like counted", 10, "document.getElementById('like').getAttribute('aria-pressed') === 'true' && document.getElementById('like-count').textContent === '1'", "document.getElementById('like').outerHTML");
    browser.wait(
        "the ranking showing it",
        10,
        &format!("document.getElementById('ranking').textContent.includes('Second {word} upload')"),
        "document.getElementById('ranking').textContent",
    );

    // Search: suggestions while typing, then highlighted results.
    let typed = &word[..word.len() - 2];
    browser.find("#search").type_text(typed);
    browser.wait(
        "suggestions",
        15,
        &format!("!document.getElementById('suggestions').hidden && document.getElementById('suggestions').textContent.includes('{word}')"),
        "document.getElementById('suggestions').outerHTML",
    );
    browser.find("#search").type_text("\u{E007}");
    browser.wait(
        "search results",
        15,
        "!document.getElementById('results').hidden && document.querySelectorAll('#search-results li[data-kind=video]').length === 2",
        "document.getElementById('search-results').innerHTML",
    );
    let marks =
        browser.run("return [...document.querySelectorAll('#search-results mark')].map(m => m.textContent.toLowerCase());", json!([]));
    assert!(marks.as_array().unwrap().iter().any(|m| m == typed), "the typed prefix is highlighted: {marks}");
    // `BROWSER_SCREENSHOT=docs/demo-page.png` saves the page here (the README picture; relative to the workspace root).
    if let Some(path) = std::env::var_os("BROWSER_SCREENSHOT") {
        browser.run("window.scrollTo(0, 0);", json!([]));
        browser.screenshot(&e2e::root().join(path));
    }

    // Infinite scroll: with more videos than a page, scrolling to the end loads the rest.
    let login = app.request("POST", "/auth/login").json(&json!({ "username": username, "password": "browser password" })).json();
    let (token, user_id) = (login["access_token"].as_str().unwrap(), login["user"]["id"].as_str().unwrap());
    for i in 0..12 {
        let reply = app
            .request("POST", "/videos")
            .header("authorization", &format!("Bearer {token}"))
            .json(&json!({ "receipt": receipt(user_id), "title": format!("Filler {i}") }));
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    browser.reload();
    browser.wait(
        "the first page of the feed",
        15,
        "document.querySelectorAll('#latest li').length >= 10",
        "document.getElementById('latest').textContent",
    );
    browser.run("document.getElementById('latest-more').scrollIntoView();", json!([]));
    browser.wait("the whole feed", 15, "document.querySelectorAll('#latest li').length === 14 && document.getElementById('latest-more').textContent === 'That is everything.'", "document.querySelectorAll('#latest li').length + ' ' + document.getElementById('latest-more').textContent");
}

/// From a danmaku's `POST` answering to another viewer's page showing it (issue 17).
const LIVE_BOUND: Duration = Duration::from_secs(1);
const LIVE_PASSWORD: &str = "live password";
const LIVE: &str = "'live ' + document.getElementById('live-state').dataset.state + ', ' + document.getElementById('live-viewers').textContent + ' | ' + document.getElementById('toast').textContent";
/// Whether a danmaku with the text `arguments[0]` flies over the video.
const FLYING: &str = "return [...document.querySelectorAll('#danmaku-layer .danmaku[data-id]')].some(d => d.textContent === arguments[0]);";

/// Opens the demo page signed in as `username` (registered through the API).
fn signed_in(name: &str, url: &str, username: &str) -> Browser {
    let browser = Browser::start(name);
    browser.open(url);
    browser.wait("the sign-in form", 30, "!document.getElementById('auth-form').hidden", STATUS);
    browser.find("#username").type_text(username);
    browser.find("#password").type_text(LIVE_PASSWORD);
    browser.click("#sign-in");
    browser.wait("the signed-in user", 15, &format!("document.getElementById('whoami-name').textContent === '{username}'"), STATUS);
    browser
}

/// Picks the video from the latest list and waits until its live stream is open.
fn watch(browser: &Browser, video_id: u64) {
    let item = format!("#latest li[data-video-id='{video_id}'] button");
    browser.wait(
        "the video in the latest list",
        30,
        &format!("document.querySelector(\"{item}\")"),
        "document.getElementById('latest').textContent",
    );
    browser.click(&item);
    browser.wait("the player on the video", 15, &format!("document.getElementById('player').dataset.videoId === '{video_id}'"), STATUS);
    browser.wait("the live stream open", 30, "document.getElementById('live-state').dataset.state === 'open'", LIVE);
}

/// Sends `text` from the page's danmaku box and answers, once the page shows its own danmaku
/// (the `POST` answered), the id it got; panics with the page's message if it failed.
fn send(browser: &Browser, text: &str) -> String {
    let answer = browser.run_async(
        "const [text, done] = [arguments[0], arguments[arguments.length - 1]];
         const deadline = performance.now() + 15000;
         document.getElementById('danmaku-text').value = text;
         document.getElementById('danmaku-send').click();
         const check = () => {
           const own = [...document.querySelectorAll('#danmaku-layer .danmaku.mine')].find(d => d.textContent === text);
           if (own) done({ id: own.dataset.id });
           else if (performance.now() > deadline) done({ error: document.getElementById('toast').textContent });
           else setTimeout(check, 5);
         };
         check();",
        json!([text]),
    );
    answer["id"].as_str().unwrap_or_else(|| panic!("sending {text:?} failed: {answer}")).to_owned()
}

#[test]
fn live_danmaku_reach_another_viewer_within_a_second_and_show_once() {
    // Streams live long enough (300 s, at least 225 s after jitter) not to end mid-test.
    let env = vec![("SPIN_VARIABLE_DANMAKU_LIVE_SECS".into(), "300".into())];
    let app = App::start(AppOptions { env, ..AppOptions::default() });
    let register = |username: &str| {
        let reply = app.request("POST", "/auth/register").json(&json!({ "username": username, "password": LIVE_PASSWORD }));
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()
    };
    let (poster, viewer) = (unique("poster"), unique("viewer"));
    let account = register(&poster);
    register(&viewer);
    let (token, user_id) = (account["access_token"].as_str().unwrap(), account["user"]["id"].as_str().unwrap());
    let created = app
        .request("POST", "/videos")
        .header("authorization", &format!("Bearer {token}"))
        .json(&json!({ "receipt": receipt(user_id), "title": format!("Live {poster}") }));
    assert_eq!(created.status, 201, "{}", created.text());
    let video_id = created.json()["id"].as_u64().unwrap();

    // Two viewers in two browsers, both watching the video live.
    let a = signed_in("live-poster", &app.url, &poster);
    let b = signed_in("live-viewer", &app.url, &viewer);
    watch(&a, video_id);
    watch(&b, video_id);
    for (browser, who) in [(&a, "the poster"), (&b, "the viewer")] {
        browser.wait(
            &format!("{who} counting two viewers"),
            40,
            "Number(document.getElementById('live-viewers').dataset.count) >= 2 && document.getElementById('live-viewers').textContent.endsWith(' watching')",
            LIVE,
        );
        browser.wait(&format!("{who} still live"), 5, "document.getElementById('live-state').dataset.state === 'open'", LIVE);
    }

    // A posts; B shows it within the bound of A's `POST` answering (B polled every 50 ms).
    let text = format!("{} 来了", unique("live"));
    let sent = Instant::now();
    let id = send(&a, &text);
    let answered = Instant::now();
    let shown = loop {
        if b.run(FLYING, json!([text])) == json!(true) {
            break answered.elapsed();
        }
        if answered.elapsed() > LIVE_BOUND {
            // Late or never? Say which before failing.
            let late = Instant::now() + Duration::from_secs(10);
            while Instant::now() < late && b.run(FLYING, json!([text])) != json!(true) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let seen = b.run(FLYING, json!([text])) == json!(true);
            let page = b.run(&format!("return String({LIVE});"), json!([]));
            panic!(
                "the viewer did not show {text:?} within {LIVE_BOUND:?} of the POST answering ({:?} after sending); {}; the viewer's page: {page}",
                answered - sent,
                if seen { format!("it came {:?} after the answer", answered.elapsed()) } else { "it never came (10 s more)".to_owned() },
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("live danmaku: POST answered after {:?}, shown on the other page {shown:?} later", answered - sent);
    assert!(shown <= LIVE_BOUND, "shown {shown:?} after the POST answered");
    let b_id = b.run(
        "return [...document.querySelectorAll('#danmaku-layer .danmaku[data-id]')].find(d => d.textContent === arguments[0]).dataset.id;",
        json!([text]),
    );
    assert_eq!(b_id, json!(id), "both pages know the danmaku by the id the POST answered");

    // B answers; once A shows that (a later id, so A's stream has delivered A's own danmaku
    // too), A lists its own danmaku once: the stream's copy of it was dropped.
    let reply = format!("{} 收到", unique("live"));
    send(&b, &reply);
    a.wait(
        "the viewer's answer on the poster's page",
        10,
        &format!("[...document.querySelectorAll('#danmaku-list li[data-id]')].some(d => d.textContent.endsWith(' · {reply}'))"),
        LIVE,
    );
    let copies = a.run(
        "return {
           listed: [...document.querySelectorAll('#danmaku-list li[data-id]')].filter(d => d.textContent.endsWith(' · ' + arguments[0])).length,
           flying: [...document.querySelectorAll('#danmaku-layer .danmaku')].filter(d => d.textContent === arguments[0]).length,
         };",
        json!([text]),
    );
    assert_eq!(copies["listed"], 1, "the poster's own danmaku is listed once: {copies}");
    assert!(copies["flying"].as_u64().unwrap() <= 1, "and flies once: {copies}");
}

/// Records a 2 s WebM of a red canvas in the page (`captureStream` + `MediaRecorder`) and puts
/// it in the upload form's file input, as choosing it would; answers its size, or the error.
const RECORD_RED_WEBM: &str = "const done = arguments[arguments.length - 1];
  (async () => {
    const canvas = Object.assign(document.createElement('canvas'), { width: 320, height: 240 });
    const context = canvas.getContext('2d');
    const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: 'video/webm' });
    const chunks = [];
    recorder.ondataavailable = (e) => chunks.push(e.data);
    let frame = 0;
    const paint = setInterval(() => {
      context.fillStyle = 'rgb(220, 20, 20)';
      context.fillRect(0, 0, 320, 240);
      context.fillStyle = '#fff';
      context.fillRect((frame++ * 4) % 300, 110, 20, 20);
    }, 40);
    recorder.start(100);
    await new Promise((r) => setTimeout(r, 2000));
    const stopped = new Promise((r) => { recorder.onstop = r; });
    recorder.stop();
    await stopped;
    clearInterval(paint);
    const file = new File(chunks, 'red clip.webm', { type: 'video/webm' });
    const chosen = new DataTransfer();
    chosen.items.add(file);
    const input = document.getElementById('file');
    input.files = chosen.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
    done({ size: file.size });
  })().catch((e) => done({ error: String(e) }));";

/// Waits until the upload form's upload is published; answers the new video's id.
fn published(browser: &Browser, what: &str, previous: Option<&str>) -> String {
    browser.wait(what, 60, "document.getElementById('upload-status').dataset.outcome", STATUS);
    let outcome = status(browser);
    assert_eq!(outcome["outcome"], "uploaded", "{outcome}");
    let other = previous.map(|id| format!(" && document.getElementById('player').dataset.videoId !== '{id}'")).unwrap_or_default();
    browser.wait(
        &format!("the player on {what}"),
        15,
        &format!("document.getElementById('player').dataset.videoId{other}"),
        "document.getElementById('player-title').textContent",
    );
    browser.run("return document.getElementById('player').dataset.videoId;", json!([])).as_str().unwrap().to_owned()
}

#[test]
fn a_video_published_without_a_cover_gets_a_frame_of_itself_shown_in_the_lists() {
    let (_proxy, s3_endpoint) = Services::shared().s3_cors();
    let env = vec![("SPIN_VARIABLE_S3_ENDPOINT".into(), s3_endpoint)];
    let app = App::start(AppOptions { env, ..AppOptions::default() });
    let browser = Browser::start("covers");
    let username = unique("cover");
    sign_up(&browser, &app.url, &username);

    // A real video, with no cover picture chosen: the page grabs a frame and publishes it.
    let recorded = browser.run_async(RECORD_RED_WEBM, json!([]));
    assert!(recorded["size"].as_u64().is_some_and(|n| n > 1000), "headless chromium recorded no WebM: {recorded}");
    browser.find("#title").type_text("Red clip");
    browser.click("#upload-start");
    let id = published(&browser, "the WebM published", None);
    let video = app.get(&format!("/videos/{id}")).json();
    let cover_url = video["cover_url"].as_str().unwrap_or_else(|| panic!("no cover was grabbed: {video}")).to_owned();
    assert_eq!(cover_url, format!("/videos/{id}/cover?v=1"));
    assert!(video["cover_key"].as_str().unwrap().ends_with(".jpeg"), "{video}");
    let jpeg = app.get(&cover_url);
    assert_eq!((jpeg.status, &jpeg.body[..3]), (200, &b"\xff\xd8\xff"[..]), "the cover is a JPEG");

    // The latest list shows the picture (its redirects followed to the store), and the player
    // has it as its poster.
    let image = format!("#latest li[data-video-id='{id}'] img.cover");
    browser.wait(
        "the cover loaded in the latest list",
        30,
        &format!("document.querySelector(\"{image}\")?.complete && document.querySelector(\"{image}\").naturalWidth > 0"),
        "document.getElementById('latest').innerHTML",
    );
    let size =
        browser.run(&format!("const img = document.querySelector(\"{image}\"); return [img.naturalWidth, img.naturalHeight];"), json!([]));
    assert_eq!(size, json!([320, 240]), "the frame keeps the video's size (under 640 px wide)");
    let poster = browser.run("return document.getElementById('video').poster;", json!([]));
    assert!(poster.as_str().is_some_and(|p| p.ends_with(&cover_url)), "{poster}");

    // A file this browser cannot decode is still published, without a cover: a placeholder.
    let dir = TempDir::new("covers");
    let path = dir.path().join("noise.mp4");
    std::fs::write(&path, e2e::seeded_bytes(17, 64 * 1024)).unwrap();
    browser.find("#file").type_text(path.to_str().unwrap());
    let title = browser.find("#title");
    title.clear();
    title.type_text("Noise");
    browser.click("#upload-start");
    let noise = published(&browser, "the undecodable file published", Some(&id));
    assert_eq!(app.get(&format!("/videos/{noise}")).json()["cover_url"], Value::Null);
    browser.wait(
        "the placeholder in the latest list",
        15,
        &format!("document.querySelector(\"#latest li[data-video-id='{noise}'] .cover.placeholder\")"),
        "document.getElementById('latest').innerHTML",
    );

    library_and_notifications_survive_a_reload(&app, &browser, &id);
    share_page_opens_the_video(&app, &browser, &id);
}

/// The red clip's share page (`/v/<id>`, what the address bar shows once a video is open) opened
/// fresh: named in the tab's title, it opens the clip in the player.
fn share_page_opens_the_video(app: &App, browser: &Browser, id: &str) {
    let path = browser.run("return location.pathname;", json!([]));
    assert_eq!(path, format!("/v/{id}"), "an open video's address is its share page");
    browser.open(&format!("{}/v/{id}", app.url));
    browser.wait(
        "the clip opened from its share page",
        30,
        &format!("document.getElementById('player').dataset.videoId === '{id}'"),
        STATUS,
    );
    assert_eq!(browser.run("return document.title;", json!([])), "Red clip · video-edge");
    assert_eq!(browser.text("#player-title"), "Red clip");
    // `BROWSER_SCREENSHOT_SHARE=docs/share-page.png` saves the share page for the README.
    if let Some(path) = std::env::var_os("BROWSER_SCREENSHOT_SHARE") {
        browser.run("document.getElementById('player').scrollIntoView();", json!([]));
        browser.screenshot(&e2e::root().join(path));
    }
}

/// On the red clip: the ☆ button and the player's position are kept across a reload ("Continue
/// watching" reopens the clip where it stopped), and a like by someone else lights the badge.
fn library_and_notifications_survive_a_reload(app: &App, browser: &Browser, id: &str) {
    browser.click(&format!("#latest li[data-video-id='{id}'] button"));
    browser.wait("the red clip in the player", 15, &format!("document.getElementById('player').dataset.videoId === '{id}'"), STATUS);
    browser.wait("the favorite button", 15, "!document.getElementById('favorite').disabled", STATUS);
    browser.click("#favorite");
    browser.wait("the favorite kept", 15, "document.getElementById('favorite').getAttribute('aria-pressed') === 'true'", STATUS);
    let paused = browser.run_async(
        "const done = arguments[arguments.length - 1];
         const v = document.getElementById('video');
         v.muted = true;
         v.addEventListener('pause', () => setTimeout(() => done(v.currentTime), 500), { once: true });
         v.currentTime = 0.5;
         v.play().then(() => v.pause()).catch((e) => done(String(e)));",
        json!([]),
    );
    let at = paused.as_f64().unwrap_or_else(|| panic!("the clip did not play: {paused}"));
    let author = app.get(&format!("/videos/{id}")).json()["author"].as_str().unwrap().to_owned();
    let fan = e2e::access_token(&unique("fan"));
    assert_eq!(app.call(Some(&fan), "PUT", &format!("/videos/{id}/like"), None).status, 200);

    browser.reload();
    browser.wait("the badge", 30, "document.getElementById('unread').textContent === '1'", "document.getElementById('unread').textContent");
    let item = format!("#continue li[data-video-id='{id}'] button");
    browser.wait("continue watching", 30, &format!("document.querySelector(\"{item}\")"), "document.getElementById('library').innerHTML");
    browser.wait("the favorites list", 15, &format!("document.querySelector(\"#favorites li[data-video-id='{id}']\")"), STATUS);
    browser.click(&item);
    browser.wait(
        "the clip reopened where it stopped",
        30,
        &format!("Math.abs(document.getElementById('video').currentTime - {at}) < 0.3"),
        "document.getElementById('video').currentTime",
    );
    browser.wait("the favorite button", 15, "document.getElementById('favorite').getAttribute('aria-pressed') === 'true'", STATUS);
    browser.click("#bell");
    browser.wait(
        "the notification",
        15,
        "document.getElementById('notification-list').textContent.includes('liked your video')",
        "document.getElementById('notification-list').textContent",
    );
    browser.wait("the badge cleared", 15, "document.getElementById('unread').textContent === '0'", STATUS);
    // `BROWSER_SCREENSHOT_LIBRARY=docs/demo-library.png` saves the library (continue watching,
    // favorites, covers in the lists) for the README.
    if let Some(path) = std::env::var_os("BROWSER_SCREENSHOT_LIBRARY") {
        browser.run("document.getElementById('library').scrollIntoView();", json!([]));
        browser.screenshot(&e2e::root().join(path));
    }
    assert_eq!(app.call(Some(&e2e::access_token(&author)), "GET", "/feed/notifications/unread", None).json()["unread"], 0);
}
