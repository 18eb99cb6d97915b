//! The TypeScript shapes of what the API answers, for the generated `.d.ts`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A rejected call: the server's RFC 9457 problem, or `network` / `cancelled` / `sdk`. */
export interface VideoEdgeError extends Error {
  name: "VideoEdgeError";
  /** HTTP status; 0 when there was no answer. */
  status: number;
  /** Stable code, e.g. `invalid-credentials`, `repeated-danmaku`, `network`, `cancelled`. */
  code: string;
  /** The problem+json body, when the server sent one. */
  problem: Record<string, unknown> | null;
}
export interface User { id: string; username: string; display_name: string; roles: string[]; created_at: number }
export type VideoId = number | string;
export interface UploadOptions {
  /** Parts sent at once (1 to 16, default 4). */
  parallelism?: number;
  /** Retries per part after a failure (default 5), with exponential backoff and jitter. */
  retries?: number;
  /** Preferred part size in bytes (the server bounds it; at least 5 MiB). */
  partSize?: number;
  /** URL of `hash-worker.js` (default: beside the SDK), or `false` to hash on the page. */
  hashWorker?: string | false;
}
export interface UploadProgress {
  phase: "ready" | "hashing" | "checking" | "uploading" | "paused" | "completing" | "done";
  bytes: number; total: number; parts_done: number; parts_total: number;
  /** Recent bytes per second. */
  rate: number;
  eta_secs: number | null;
}
export interface UploadResult {
  /** Give this to `Feed.createVideo`. */
  receipt: string;
  upload: { id: string; key: string; filename: string; size: number; content_type: string; content_key: string | null; state: string };
  /** Finished by instant upload: the store already held these bytes. */
  instant: boolean;
  /** Continued an upload a previous page started. */
  resumed: boolean;
}
export interface SavedUpload { id: string; hashed: { content_key: string; checksums: string[] }; filename: string; size: number; started_at: number }
export interface NewVideo { receipt: string; title: string; description?: string; tags?: string[]; cover_key?: string }
export interface VideoPatch { version: number; title?: string; description?: string; tags?: string[]; cover_key?: string }
export interface Video {
  id: number; author: string; title: string; description: string; tags: string[];
  cover_key: string | null;
  /** Where an `<img>` loads the cover (a stable URL that redirects to the picture); null without one. */
  cover_url: string | null;
  object_key: string; size: number; content_type: string; content_key: string | null;
  created_at: number; updated_at: number; version: number;
  likes?: number; plays?: number; liked?: boolean; favorited?: boolean; position_ms?: number | null;
}
export interface VideoSource { url: string; content_type: string; expires_at: number }
export interface PageOptions { limit?: number; cursor?: string | null }
export interface Page<T> { items: T[]; next_cursor: string | null }
export interface LikeState { liked: boolean; likes: number }
export interface FavoriteState { favorited: boolean }
/** A group of likes, comments or replies on the caller's video or comment ("12 people liked X"). */
export interface Notification {
  kind: "like-video" | "comment" | "reply" | "like-comment"; video_id: number; video_title: string | null;
  comment_id: number | null; count: number; actors: string[]; last_at: number; unread: boolean;
}
export interface FavoriteEntry { video: Video; favorited_at: number }
export interface Progress { position_ms: number; duration_ms?: number | null }
export interface HistoryEntry { video: Video; watched_at: number; position_ms: number; duration_ms: number | null }
/** One danmaku; a merged flood has `count` > 1 and `user` null (many posters). */
export interface Danmaku { id: number; time_ms: number; text: string; count: number; user: string | null; color: string | null; mode: "scroll" | "top" | "bottom" }
export interface NewDanmaku { time_ms: number; text: string; color?: string; mode?: "scroll" | "top" | "bottom" }
export interface DanmakuSegment { segment: number; items: Danmaku[] }
export interface DanmakuSince { items: Danmaku[]; last_id: number | null }
/** What `Feed.live` calls; every handler is optional. */
export interface LiveHandlers {
  /** Resume after this danmaku id (replaying what came since); default: live from now. */
  after?: number;
  /** New danmaku, each id once; a merged item comes again, same `id`, when its `count` grows. */
  onDanmaku?: (items: Danmaku[]) => void;
  /** How many are watching this video live. */
  onViewers?: (count: number) => void;
  /** Danmaku too far behind to replay (fetch segments for them if they matter). */
  onSkipped?: (skipped: LiveSkipped) => void;
  /** The connection: `connecting` at first, `open`, `reconnecting` while away, `closed` after `close()`. */
  onState?: (state: LiveState) => void;
}
export type LiveState = "connecting" | "open" | "reconnecting" | "closed";
export interface LiveSkipped { from: number; to: number; count: number }
/** A danmaku the page already shows, for `LiveDanmaku.seen`: its id, or the item itself. */
export type LiveSeen = number | { id: number; count?: number };
export interface Ranking { window_hours: number; items: { score: number; video: Video }[] }
export interface SearchParams {
  q?: string; type?: "video" | "user" | "all"; tags?: string | string[]; author?: string;
  from?: string | number; to?: string | number; sort?: "relevance" | "date"; limit?: number; cursor?: string;
}
export interface SearchHit {
  kind: "video" | "user"; id: string; score: number;
  /** HTML-escaped, matches wrapped in `<mark>`: safe to assign to `innerHTML`. */
  highlight: { title?: string; description?: string; username?: string };
  item: Record<string, unknown>;
}
export interface SearchResults { items: SearchHit[]; next_cursor: string | null; degraded: boolean }
export interface Suggestions { suggestions: { text: string; kind: "video" | "user"; id: string }[]; degraded: boolean }
"#;
