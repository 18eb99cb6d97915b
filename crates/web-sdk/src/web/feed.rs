//! `Feed`: videos, timelines, likes, plays, danmaku (live too) and the ranking.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::client::{Client, Session};
use super::js::{query, segment};
use super::live::LiveDanmaku;

/// The feed endpoints, authorised by a [`Client`]'s session (reads work signed out too).
#[wasm_bindgen]
pub struct Feed {
    session: Rc<Session>,
}

const PAGE: &[(&str, &str)] = &[("limit", "limit"), ("cursor", "cursor")];

#[wasm_bindgen]
impl Feed {
    /// Feed calls made with `client`'s session.
    #[wasm_bindgen(constructor)]
    pub fn new(client: &Client) -> Feed {
        Feed { session: client.session.clone() }
    }

    /// Publishes an uploaded file: `{receipt, title, description?, tags?, cover_key?}`.
    #[wasm_bindgen(js_name = createVideo, unchecked_return_type = "Promise<Video>")]
    pub fn create_video(&self, #[wasm_bindgen(unchecked_param_type = "NewVideo")] video: JsValue) -> js_sys::Promise {
        self.session.promise("POST", "/videos".into(), Some(video))
    }

    /// One video with its counts.
    #[wasm_bindgen(unchecked_return_type = "Promise<Video>")]
    pub fn video(&self, #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("GET", format!("/videos/{}", segment(&id)?), None))
    }

    /// Where to play a video from: set `url` as a `<video>`'s `src`.
    #[wasm_bindgen(unchecked_return_type = "Promise<VideoSource>")]
    pub fn source(&self, #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("GET", format!("/videos/{}/source", segment(&id)?), None))
    }

    /// The author's edit: `{version, title?, description?, tags?, cover_key?}`.
    #[wasm_bindgen(js_name = updateVideo, unchecked_return_type = "Promise<Video>")]
    pub fn update_video(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "VideoPatch")] patch: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("PATCH", format!("/videos/{}", segment(&id)?), Some(patch)))
    }

    /// The author deletes a video.
    #[wasm_bindgen(js_name = deleteVideo, unchecked_return_type = "Promise<void>")]
    pub fn delete_video(&self, #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("DELETE", format!("/videos/{}", segment(&id)?), None))
    }

    /// Newest videos first; pass the answer's `next_cursor` as `cursor` for the next page.
    #[wasm_bindgen(unchecked_return_type = "Promise<Page<Video>>")]
    pub fn latest(&self, #[wasm_bindgen(unchecked_param_type = "PageOptions | undefined")] options: JsValue) -> js_sys::Promise {
        self.session.promise("GET", format!("/feed/latest{}", query(&options, PAGE)), None)
    }

    /// Videos of the authors the user follows.
    #[wasm_bindgen(unchecked_return_type = "Promise<Page<Video>>")]
    pub fn following(&self, #[wasm_bindgen(unchecked_param_type = "PageOptions | undefined")] options: JsValue) -> js_sys::Promise {
        self.session.promise("GET", format!("/feed/following{}", query(&options, PAGE)), None)
    }

    /// One author's videos.
    #[wasm_bindgen(js_name = byAuthor, unchecked_return_type = "Promise<Page<Video>>")]
    pub fn by_author(
        &self,
        user_id: String,
        #[wasm_bindgen(unchecked_param_type = "PageOptions | undefined")] options: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("GET", format!("/users/{}/videos{}", segment(&user_id.into())?, query(&options, PAGE)), None))
    }

    /// Likes a video (liking twice is one like).
    #[wasm_bindgen(unchecked_return_type = "Promise<LikeState>")]
    pub fn like(&self, #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("PUT", format!("/videos/{}/like", segment(&id)?), None))
    }

    /// Takes a like back.
    #[wasm_bindgen(unchecked_return_type = "Promise<LikeState>")]
    pub fn unlike(&self, #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("DELETE", format!("/videos/{}/like", segment(&id)?), None))
    }

    /// Adds a video to the caller's favorites (adding twice keeps one).
    #[wasm_bindgen(unchecked_return_type = "Promise<FavoriteState>")]
    pub fn favorite(&self, #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("PUT", format!("/videos/{}/favorite", segment(&id)?), None))
    }

    /// Removes a video from the caller's favorites.
    #[wasm_bindgen(unchecked_return_type = "Promise<FavoriteState>")]
    pub fn unfavorite(&self, #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("DELETE", format!("/videos/{}/favorite", segment(&id)?), None))
    }

    /// The caller's favorites, newest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<Page<FavoriteEntry>>")]
    pub fn favorites(&self, #[wasm_bindgen(unchecked_param_type = "PageOptions | undefined")] options: JsValue) -> js_sys::Promise {
        self.session.promise("GET", format!("/feed/favorites{}", query(&options, PAGE)), None)
    }

    /// Reports where the caller's player is: `{position_ms, duration_ms?}`. Call it at most
    /// every few seconds while playing, and on pause and end.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn progress(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Progress")] progress: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("PUT", format!("/videos/{}/progress", segment(&id)?), Some(progress)))
    }

    /// The caller's watch history, most recent first, with where each video stopped.
    #[wasm_bindgen(unchecked_return_type = "Promise<Page<HistoryEntry>>")]
    pub fn history(&self, #[wasm_bindgen(unchecked_param_type = "PageOptions | undefined")] options: JsValue) -> js_sys::Promise {
        self.session.promise("GET", format!("/feed/history{}", query(&options, PAGE)), None)
    }

    /// Clears the caller's watch history.
    #[wasm_bindgen(js_name = clearHistory, unchecked_return_type = "Promise<void>")]
    pub fn clear_history(&self) -> js_sys::Promise {
        self.session.promise("DELETE", "/feed/history".into(), None)
    }

    /// The caller's notifications, grouped, most recently active first.
    #[wasm_bindgen(unchecked_return_type = "Promise<Page<Notification>>")]
    pub fn notifications(&self, #[wasm_bindgen(unchecked_param_type = "PageOptions | undefined")] options: JsValue) -> js_sys::Promise {
        self.session.promise("GET", format!("/feed/notifications{}", query(&options, PAGE)), None)
    }

    /// How many notification groups grew since the caller last read them (for a badge; poll it).
    #[wasm_bindgen(js_name = unreadNotifications, unchecked_return_type = "Promise<{ unread: number }>")]
    pub fn unread_notifications(&self) -> js_sys::Promise {
        self.session.promise("GET", "/feed/notifications/unread".into(), None)
    }

    /// Marks every notification so far read.
    #[wasm_bindgen(js_name = readNotifications, unchecked_return_type = "Promise<{ unread: number }>")]
    pub fn read_notifications(&self) -> js_sys::Promise {
        self.session.promise("POST", "/feed/notifications/read".into(), None)
    }

    /// Counts a play (once per user per window).
    #[wasm_bindgen(unchecked_return_type = "Promise<{ counted: boolean }>")]
    pub fn play(&self, #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("POST", format!("/videos/{}/plays", segment(&id)?), None))
    }

    /// The danmaku of playback minute `segment`, bursts merged.
    #[wasm_bindgen(unchecked_return_type = "Promise<DanmakuSegment>")]
    pub fn danmaku(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue,
        segment_index: u32,
    ) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("GET", format!("/videos/{}/danmaku?segment={segment_index}", segment(&id)?), None))
    }

    /// Danmaku posted after the one with id `after` (what a reconnecting player missed).
    #[wasm_bindgen(js_name = danmakuAfter, unchecked_return_type = "Promise<DanmakuSince>")]
    pub fn danmaku_after(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue,
        after: f64,
        limit: Option<u32>,
    ) -> Result<js_sys::Promise, JsValue> {
        let limit = limit.map(|l| format!("&limit={l}")).unwrap_or_default();
        Ok(self.session.promise("GET", format!("/videos/{}/danmaku?after={after:.0}{limit}", segment(&id)?), None))
    }

    /// Posts a danmaku: `{time_ms, text, color?, mode?}`.
    #[wasm_bindgen(js_name = sendDanmaku, unchecked_return_type = "Promise<{ id: number }>")]
    pub fn send_danmaku(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "NewDanmaku")] danmaku: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("POST", format!("/videos/{}/danmaku", segment(&id)?), Some(danmaku)))
    }

    /// The video's danmaku as they are posted (Server-Sent Events; no sign-in needed):
    /// `handlers.onDanmaku(items)` gets each id once (a merged item again when its `count`
    /// grows), `onViewers(count)` the watchers, `onSkipped({from, to, count})` what was too far
    /// behind to replay, `onState(state)` the connection. Resumes after `handlers.after` when
    /// given, else starts live. Reconnects by itself until `close()`.
    pub fn live(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VideoId")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "LiveHandlers")] handlers: JsValue,
    ) -> Result<LiveDanmaku, JsValue> {
        LiveDanmaku::start(self.session.url(&format!("/videos/{}/danmaku/live", segment(&id)?)), &handlers)
    }

    /// The top videos of the last 24 hours.
    #[wasm_bindgen(unchecked_return_type = "Promise<Ranking>")]
    pub fn rankings(&self, limit: Option<u32>) -> js_sys::Promise {
        self.session.promise("GET", format!("/feed/rankings?limit={}", limit.unwrap_or(20)), None)
    }

    /// Follows a user.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn follow(&self, user_id: String) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("PUT", format!("/users/{}/follow", segment(&user_id.into())?), None))
    }

    /// Unfollows a user.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn unfollow(&self, user_id: String) -> Result<js_sys::Promise, JsValue> {
        Ok(self.session.promise("DELETE", format!("/users/{}/follow", segment(&user_id.into())?), None))
    }
}
