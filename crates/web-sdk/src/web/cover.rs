//! `Uploader.cover`: the cover a video is published with, the user's picture or a frame of the
//! video file, uploaded through upload-sign's form upload (`POST /uploads/form`) and checked
//! (`POST /uploads/covers`). The rules are [`crate::cover`].

use std::pin::pin;
use std::rc::Rc;

use futures_util::future::{select, Either};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Blob, Document, File, HtmlElement, HtmlVideoElement};

use super::client::{Client, Session};
use super::error::{Result, SdkError};
use super::js::{self, get, to_js};
use super::upload::Uploader;
use crate::cover;

#[wasm_bindgen]
impl Uploader {
    /// The `cover_key` to publish `video` with: `picture` when the user chose one, else a frame
    /// of `video` (a second in, at most 640 px wide, JPEG), each uploaded through the form
    /// route. A frame that cannot be grabbed or uploaded within 5 s resolves `null`: publish
    /// without a cover. A chosen picture that cannot be uploaded rejects.
    #[wasm_bindgen(unchecked_return_type = "Promise<string | null>")]
    pub fn cover(client: &Client, video: File, picture: Option<File>) -> js_sys::Promise {
        let session = client.session.clone();
        future_to_promise(async move {
            let key = match picture {
                Some(picture) => Some(upload(&session, &picture, &picture.name()).await?),
                None => frame(&session, &video).await,
            };
            Ok(key.map_or(JsValue::NULL, JsValue::from))
        })
    }
}

/// A frame of `file` uploaded, or `None` (with a console warning) on any failure or after
/// [`cover::TIMEOUT_MS`].
async fn frame(session: &Rc<Session>, file: &File) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let video: HtmlVideoElement = document.create_element("video").ok()?.unchecked_into();
    let url = web_sys::Url::create_object_url_with_blob(file).ok()?;
    let grabbed = async {
        let jpeg = draw(&document, &video, &url).await?;
        upload(session, &jpeg, cover::FILENAME).await
    };
    let outcome = match select(pin!(grabbed), pin!(js::sleep(cover::TIMEOUT_MS))).await {
        Either::Left((grabbed, _)) => grabbed.map_err(|e| format!("{e:?}")),
        Either::Right(_) => Err(format!("no frame within {} ms", cover::TIMEOUT_MS)),
    };
    // Let the decoder go now rather than when the element is collected.
    let _ = video.remove_attribute("src");
    video.load();
    let _ = web_sys::Url::revoke_object_url(&url);
    outcome.map_err(|failure| web_sys::console::warn_1(&format!("publishing without a cover: {failure}").into())).ok()
}

/// The JPEG of one frame of the video at `url`, drawn on a canvas.
async fn draw(document: &Document, video: &HtmlVideoElement, url: &str) -> Result<Blob> {
    video.set_muted(true);
    video.set_preload("auto");
    video.set_src(url);
    until(video, HtmlElement::set_onloadeddata).await?;
    let at = cover::seek_secs(video.duration());
    if at > 0.0 {
        video.set_current_time(at);
        until(video, HtmlElement::set_onseeked).await?;
    }
    let (width, height) =
        cover::scaled(video.video_width(), video.video_height()).ok_or_else(|| SdkError::Other("the file has no picture".into()))?;
    let canvas: web_sys::HtmlCanvasElement = document.create_element("canvas")?.unchecked_into();
    canvas.set_width(width);
    canvas.set_height(height);
    let context: web_sys::CanvasRenderingContext2d =
        canvas.get_context("2d")?.ok_or_else(|| SdkError::Other("no 2d canvas".into()))?.unchecked_into();
    context.draw_image_with_html_video_element_and_dw_and_dh(video, 0.0, 0.0, f64::from(width), f64::from(height))?;
    let (encoded, resolve, _) = js::deferred();
    canvas.to_blob_with_type_and_encoder_options(&resolve, cover::CONTENT_TYPE, &cover::JPEG_QUALITY.into())?;
    // `toBlob` calls back with null when it cannot encode.
    JsFuture::from(encoded).await?.dyn_into::<Blob>().map_err(|_| SdkError::Other("the frame could not be encoded".into()))
}

/// Waits for the event whose handler `on` sets (such as `loadeddata`); the video's `error`
/// event fails instead.
async fn until(video: &HtmlVideoElement, on: fn(&HtmlElement, Option<&js_sys::Function>)) -> Result<()> {
    let (fired, resolve, reject) = js::deferred();
    on(video, Some(&resolve));
    video.set_onerror(Some(&reject));
    let outcome = JsFuture::from(fired).await;
    on(video, None);
    video.set_onerror(None);
    outcome.map(drop).map_err(|_| SdkError::Other("this browser cannot decode the video".into()))
}

/// Uploads `picture` by form upload: its object key.
async fn upload(session: &Rc<Session>, picture: &Blob, filename: &str) -> Result<String> {
    let request = json!({ "filename": filename, "size": picture.size() as u64, "content_type": picture.type_() });
    let form = session.call("POST", "/uploads/form", Some(to_js(&request))).await?;
    let data = web_sys::FormData::new()?;
    for field in js::items(&get(&form, "fields")) {
        let pair = js::items(&field);
        let text = |i: usize| pair.get(i).and_then(JsValue::as_string).unwrap_or_default();
        data.append_with_str(&text(0), &text(1))?;
    }
    // The store reads the fields the policy signs first: the file goes last.
    data.append_with_blob_and_filename("file", picture, filename)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&data);
    let window = web_sys::window().ok_or_else(|| SdkError::Other("no window".into()))?;
    let url = get(&form, "url").as_string().unwrap_or_default();
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(&url, &init)).await?.unchecked_into();
    if !response.ok() {
        return Err(SdkError::problem(response.status(), JsValue::NULL));
    }
    let key = get(&form, "key").as_string().ok_or_else(|| SdkError::Other("the form upload named no key".into()))?;
    // feed attaches only a picture upload-sign has read back.
    session.call("POST", "/uploads/covers", Some(to_js(&json!({ "key": key })))).await?;
    Ok(key)
}
