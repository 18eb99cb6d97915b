// The demo page: every call goes through the browser SDK in /sdk/.
import init, { Client, Feed, Search, Uploader } from "/sdk/video_edge_sdk.js";

await init();
const client = new Client();
const feed = new Feed(client);
const search = new Search(client);

const $ = (id) => document.getElementById(id);
const el = (tag, { dataset = {}, ...props } = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  Object.assign(node.dataset, dataset);
  node.append(...children);
  return node;
};
const say = (text) => { $("toast").textContent = text; };
const fail = (error) => say(error?.message ?? String(error));
const size = (n) => {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  for (; n >= 1000 && i < units.length - 1; i++) n /= 1000;
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
};
const ago = (ms) => {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
};

// ---- Account ----------------------------------------------------------------------------
function showAccount(user) {
  $("auth-form").hidden = !!user;
  $("whoami").hidden = !user;
  $("whoami-name").textContent = user ? user.display_name || user.username : "";
  $("upload-start").disabled = !user || !!uploader;
  $("upload-status").textContent = user ? (uploader ? $("upload-status").textContent : "Choose a video to upload.") : "Sign in to upload.";
  showPlayerControls();
  showUnfinished();
  loadLibrary();
  pollUnread();
}
client.onChange(showAccount);

$("auth-form").addEventListener("submit", (event) => {
  event.preventDefault();
  client.login($("username").value, $("password").value).then(() => say("")).catch(fail);
});
$("sign-up").addEventListener("click", () => {
  if (!$("auth-form").reportValidity()) return;
  client.register($("username").value, $("password").value).then(() => say("")).catch(fail);
});
$("sign-out").addEventListener("click", () => client.logout().catch(fail));

// ---- Upload -----------------------------------------------------------------------------
let uploader = null;

function showUnfinished() {
  const saved = client.user ? Uploader.unfinished(client) : [];
  $("unfinished").replaceChildren(...saved.map((u) =>
    el("li", { textContent: `Unfinished: ${u.filename} (${size(u.size)}). Choose the same file again to resume.` })));
}

function showProgress(p) {
  const status = $("upload-status");
  $("upload-progress").value = p.total ? p.bytes / p.total : 0;
  status.dataset.phase = p.phase;
  status.dataset.partsDone = p.parts_done;
  const parts = `${p.parts_done}/${p.parts_total} parts`;
  const left = p.eta_secs == null ? "" : ` · ${Math.ceil(p.eta_secs)} s left`;
  status.textContent = {
    hashing: `Hashing ${Math.floor((100 * p.bytes) / Math.max(p.total, 1))}%…`,
    checking: "Looking for an instant upload…",
    uploading: `Uploading ${parts} · ${size(p.bytes)} of ${size(p.total)} · ${size(p.rate)}/s${left}`,
    paused: `Paused at ${parts}.`,
    completing: "Finishing…",
    done: "Done.",
  }[p.phase] ?? status.textContent;
}

function uploading(active) {
  $("upload-start").disabled = active || !client.user;
  $("upload-pause").disabled = !active;
  $("upload-cancel").disabled = !active;
  $("upload-pause").textContent = "Pause";
}

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  const title = $("title").value.trim();
  const tags = $("tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  uploader = new Uploader(client, file, { parallelism: Number($("parallelism").value) || 4 });
  uploader.onProgress(showProgress);
  uploading(true);
  const status = $("upload-status");
  delete status.dataset.outcome;
  // The cover (the chosen picture, else a frame of the video) uploads alongside the video; a
  // video without one is still published.
  const cover = Uploader.cover(client, file, $("cover").files[0]).catch((error) => {
    say(`The cover picture was not uploaded: ${error.message}`);
    return null;
  });
  try {
    const result = await uploader.start();
    const cover_key = (await cover) ?? undefined;
    const video = await feed.createVideo({ receipt: result.receipt, title, tags, cover_key });
    const how = result.instant ? "instant" : result.resumed ? "resumed" : "uploaded";
    status.dataset.outcome = how;
    status.textContent = {
      instant: `Instant upload: the file was already stored. Published “${video.title}”.`,
      resumed: `Resumed and finished. Published “${video.title}”.`,
      uploaded: `Uploaded. Published “${video.title}”.`,
    }[how];
    $("upload-progress").value = 1;
    reloadLatest();
    openVideo(video.id);
  } catch (error) {
    status.dataset.outcome = error.code === "cancelled" ? "cancelled" : "failed";
    status.textContent = error.code === "cancelled" ? "Cancelled." : `Upload failed: ${error.message}`;
  } finally {
    uploader = null;
    uploading(false);
    showUnfinished();
  }
});
$("upload-pause").addEventListener("click", () => {
  if (!uploader) return;
  if (uploader.paused) uploader.resume(); else uploader.pause();
  $("upload-pause").textContent = uploader.paused ? "Resume" : "Pause";
});
$("upload-cancel").addEventListener("click", () => uploader?.cancel().catch(fail));
// A warning, not a block: the server checks the content itself when the upload completes.
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  const warn = file && !Uploader.playable(file);
  say(warn ? `This browser cannot play “${file.name}” (${file.type || "unknown type"}). You may upload it, but it may not play here, and the server accepts only MP4/MOV, WebM/Matroska and MPEG-TS videos.` : "");
});

// ---- Latest, with infinite scroll -------------------------------------------------------
let cursor = null;
let exhausted = false;
let loading = false;

// A video's cover, loaded when scrolled near; a placeholder when it has none or fails to load.
function coverImage(video) {
  const placeholder = () => el("span", { className: "cover placeholder" });
  if (!video.cover_url) return placeholder();
  const img = el("img", { className: "cover", loading: "lazy", decoding: "async", alt: "", src: video.cover_url });
  img.addEventListener("error", () => img.replaceWith(placeholder()), { once: true });
  return img;
}

function videoItem(video, meta = `${size(video.size)} · ${ago(video.created_at)}`) {
  const button = el("button", { type: "button", className: "item media" }, coverImage(video),
    el("span", { className: "title", textContent: video.title }),
    el("span", { className: "meta", textContent: meta }));
  button.addEventListener("click", () => openVideo(video.id));
  return el("li", { dataset: { videoId: video.id } }, button);
}

async function loadMore() {
  if (loading || exhausted) return;
  loading = true;
  try {
    const page = await feed.latest({ limit: 10, cursor });
    $("latest").append(...page.items.map((v) => videoItem(v)));
    cursor = page.next_cursor;
    exhausted = !cursor;
    $("latest-more").textContent = exhausted ? ($("latest").children.length ? "That is everything." : "No videos yet.") : "Loading…";
  } catch (error) {
    fail(error);
  } finally {
    loading = false;
  }
  // A short first page may not fill the screen; keep going while the sentinel shows.
  if (!exhausted && $("latest-more").getBoundingClientRect().top < innerHeight) loadMore();
}
new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMore()).observe($("latest-more"));

function reloadLatest() {
  $("latest").replaceChildren();
  cursor = null;
  exhausted = false;
  loadMore();
  loadRanking();
}

// ---- Ranking ----------------------------------------------------------------------------
async function loadRanking() {
  try {
    const ranking = await feed.rankings(10);
    const items = ranking.items.map(({ score, video }) => videoItem(video, `${score} points`));
    $("ranking").replaceChildren(...(items.length ? items : [el("li", { className: "muted empty", textContent: "Nothing played or liked yet." })]));
  } catch (error) {
    fail(error);
  }
}

// ---- Player and danmaku -----------------------------------------------------------------
const video = $("video");
let current = null;
let segment = { index: -1, items: [] };
let lastMs = 0;
let lane = 0;
// The live stream of the video being watched, and what the page shows of it: ids delivered
// live or posted here (playback does not fly them again), their flying spans and list entries.
let live = null;
let liveGeneration = 0;
const liveIds = new Set();
const flying = new Map();
const listed = new Map();
const label = (d) => (d.count > 1 ? `${d.text} ×${d.count}` : d.text);
const listText = (d) => `${(d.time_ms / 1000).toFixed(1)} s · ${label(d)}`;

function showPlayerControls() {
  const ready = !!current && !!client.user;
  $("like").disabled = !ready;
  $("favorite").disabled = !ready;
  $("danmaku-text").disabled = !ready;
  $("danmaku-send").disabled = !ready;
  if (current) {
    $("like").setAttribute("aria-pressed", String(!!current.liked));
    $("favorite").setAttribute("aria-pressed", String(!!current.favorited));
    $("favorite").textContent = current.favorited ? "★ Favorited" : "☆ Favorite";
    $("like-count").textContent = current.likes ?? 0;
    $("play-count").textContent = `${current.plays ?? 0} plays`;
  }
}

async function openVideo(id) {
  try {
    const [info, source] = await Promise.all([feed.video(id), feed.source(id)]);
    current = info;
    // The address bar holds the video's share page (/v/<id>), which opens it again.
    if (location.pathname !== `/v/${info.id}`) history.replaceState(null, "", `/v/${info.id}`);
    $("player").dataset.videoId = info.id;
    openLive(info.id);
    $("player-title").textContent = info.title;
    if (info.cover_url) video.poster = info.cover_url;
    else video.removeAttribute("poster");
    video.src = source.url;
    lastMs = 0;
    reported = 0;
    // Continue where this user stopped, unless that was the very end.
    const resume = info.position_ms ?? 0;
    if (resume > 0) {
      video.addEventListener("loadedmetadata", () => {
        if (current?.id === info.id && resume < video.duration * 1000 - 1000) video.currentTime = resume / 1000;
      }, { once: true });
    }
    showPlayerControls();
    await loadSegment(0);
    $("player").scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (error) {
    fail(error);
  }
}

async function loadSegment(index) {
  segment = { index, items: [] };
  const answer = await feed.danmaku(current.id, index);
  segment.items = answer.items;
  live?.seen(answer.items);
  listed.clear();
  $("danmaku-count").textContent = answer.items.length;
  $("danmaku-list").replaceChildren(...answer.items.map(listEntry));
}

function listEntry(d) {
  const entry = el("li", { textContent: listText(d), dataset: { id: d.id } });
  listed.set(d.id, entry);
  return entry;
}

function fly(text, { id = null, color = null, count = 1, mine = false } = {}) {
  const span = el("span", { className: mine ? "danmaku mine" : "danmaku", textContent: label({ text, count }) });
  span.style.top = `${(lane++ % 8) * 1.9 + 0.4}rem`;
  if (color) span.style.color = color;
  if (id != null) {
    span.dataset.id = id;
    flying.set(id, span);
  }
  span.addEventListener("animationend", () => {
    span.remove();
    if (flying.get(id) === span) flying.delete(id);
  });
  $("danmaku-layer").append(span);
  return span;
}

// Shows a danmaku that came live or was posted here, once per id: a merged item whose count
// grew updates its span and list entry while they are still there.
function upsert(d, { mine = false } = {}) {
  liveIds.add(d.id);
  const span = flying.get(d.id);
  if (span?.isConnected) {
    span.textContent = label(d);
    if (mine) span.classList.add("mine");
  } else {
    fly(d.text, { ...d, mine });
  }
  const entry = listed.get(d.id);
  if (entry?.isConnected) entry.textContent = listText(d);
  else $("danmaku-list").append(listEntry(d));
  $("danmaku-count").textContent = $("danmaku-list").children.length;
}

function showLiveState(state) {
  const badge = $("live-state");
  badge.dataset.state = state;
  badge.textContent = { connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…", closed: "Offline" }[state] ?? state;
  badge.hidden = false;
}

function showViewers(count) {
  const viewers = $("live-viewers");
  viewers.dataset.count = count;
  viewers.textContent = `${count} watching`;
  viewers.hidden = false;
}

function closeLive() {
  if (!live) return;
  live.close();
  live.free();
  live = null;
}

// The live danmaku of video `id` (resuming after danmaku id `after` when given); the previous
// stream closes. Handlers of an older stream are ignored.
function openLive(id, after) {
  closeLive();
  if (after === undefined) {
    liveIds.clear();
    flying.clear();
  }
  $("live-viewers").hidden = true;
  const generation = ++liveGeneration;
  const ours = (handler) => (value) => { if (generation === liveGeneration) handler(value); };
  live = feed.live(id, {
    after,
    onDanmaku: ours((items) => items.forEach((d) => upsert(d))),
    onViewers: ours(showViewers),
    onSkipped: ours(({ count }) => say(`${count} live danmaku were too many to catch up on.`)),
    onState: ours(showLiveState),
  });
}
addEventListener("pagehide", closeLive);
addEventListener("pageshow", (event) => { if (event.persisted && current) openLive(current.id); });
// A hidden tab holds no stream (nobody sees the danmaku); shown again, it catches up from
// where it stopped.
let hiddenAt = null;
document.addEventListener("visibilitychange", () => {
  if (document.hidden && live) {
    hiddenAt = live.lastId ?? undefined;
    closeLive();
    showLiveState("closed");
  } else if (!document.hidden && current && !live) {
    openLive(current.id, hiddenAt ?? undefined);
  }
});

video.addEventListener("timeupdate", () => {
  if (!current) return;
  const ms = video.currentTime * 1000;
  const index = Math.floor(ms / 60000);
  if (index !== segment.index) loadSegment(index).catch(fail);
  for (const d of segment.items) if (d.time_ms > lastMs && d.time_ms <= ms && !liveIds.has(d.id)) fly(d.text, d);
  lastMs = ms;
});
video.addEventListener("seeked", () => { lastMs = video.currentTime * 1000; });

// ---- Library: favorites, watch history, continue watching -------------------------------
// Where the player is goes to the history at most every 10 s while playing, and on pause, end
// and leaving the page, so a reload continues within 10 s of where it was.
let reported = 0;
function reportProgress(force) {
  if (!current || !client.user || !(video.currentTime > 0)) return;
  const now = Date.now();
  if (!force && now - reported < 10000) return;
  reported = now;
  const duration = Number.isFinite(video.duration) ? Math.floor(video.duration * 1000) : null;
  feed.progress(current.id, { position_ms: Math.floor(video.currentTime * 1000), duration_ms: duration }).catch(() => {});
}
video.addEventListener("timeupdate", () => reportProgress(false));
video.addEventListener("pause", () => reportProgress(true));
video.addEventListener("ended", () => reportProgress(true));
addEventListener("pagehide", () => reportProgress(true));

function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
async function loadLibrary() {
  $("library").hidden = !client.user;
  if (!client.user) return;
  try {
    const [history, favorites] = await Promise.all([feed.history({ limit: 5 }), feed.favorites({ limit: 10 })]);
    const watched = history.items.map(({ video: v, position_ms, duration_ms }) =>
      videoItem(v, duration_ms ? `at ${clock(position_ms)} of ${clock(duration_ms)}` : `at ${clock(position_ms)}`));
    $("continue").replaceChildren(...(watched.length ? watched : [el("li", { className: "muted empty", textContent: "Nothing watched yet." })]));
    $("clear-history").hidden = !watched.length;
    const kept = favorites.items.map(({ video: v }) => videoItem(v));
    $("favorites").replaceChildren(...(kept.length ? kept : [el("li", { className: "muted empty", textContent: "No favorites yet." })]));
  } catch (error) {
    fail(error);
  }
}
// ---- Notifications: polled every 30 s while the page is visible --------------------------
const said = {
  "like-video": (n) => `liked your video “${n.video_title ?? "deleted"}”`,
  comment: (n) => `commented on “${n.video_title ?? "deleted"}”`,
  reply: (n) => `replied to your comment on “${n.video_title ?? "deleted"}”`,
  "like-comment": (n) => `liked your comment on “${n.video_title ?? "deleted"}”`,
};
function showUnread(count) {
  $("unread").textContent = count;
  $("unread").dataset.count = count;
}
async function pollUnread() {
  if (!client.user || document.hidden) return;
  try {
    showUnread((await feed.unreadNotifications()).unread);
  } catch {
    // The next poll tries again.
  }
}
setInterval(pollUnread, 30000);
document.addEventListener("visibilitychange", pollUnread);
$("bell").addEventListener("click", async () => {
  const panel = $("notifications");
  panel.hidden = !panel.hidden;
  $("bell").setAttribute("aria-expanded", String(!panel.hidden));
  if (panel.hidden) return;
  try {
    const page = await feed.notifications({ limit: 20 });
    const items = page.items.map((n) => {
      const who = n.count > 1 ? `${n.count} people` : n.actors[0] ?? "someone";
      const item = el("li", { className: n.unread ? "unread" : "", textContent: `${who} ${said[n.kind]?.(n) ?? n.kind} · ${ago(n.last_at)}` });
      if (n.video_title) item.addEventListener("click", () => openVideo(n.video_id));
      return item;
    });
    $("notification-list").replaceChildren(...(items.length ? items : [el("li", { className: "muted empty", textContent: "Nothing yet." })]));
    showUnread((await feed.readNotifications()).unread);
  } catch (error) {
    fail(error);
  }
});

$("clear-history").addEventListener("click", () => feed.clearHistory().then(loadLibrary).catch(fail));
$("favorite").addEventListener("click", async () => {
  if (!current) return;
  try {
    const state = current.favorited ? await feed.unfavorite(current.id) : await feed.favorite(current.id);
    current.favorited = state.favorited;
    showPlayerControls();
    loadLibrary();
  } catch (error) {
    fail(error);
  }
});
video.addEventListener("play", () => { if (current && client.user) feed.play(current.id).catch(() => {}); });

$("danmaku-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("danmaku-text").value.trim();
  if (!text || !current) return;
  try {
    const watching = current.id;
    const time_ms = Math.floor(video.currentTime * 1000);
    const posted = await feed.sendDanmaku(watching, { time_ms, text });
    $("danmaku-text").value = "";
    say("");
    if (current?.id !== watching) return;
    // The stream must not show it again; if it came live first, that span becomes "mine".
    live?.seen(posted);
    upsert({ text, time_ms, count: 1, ...posted }, { mine: true });
  } catch (error) {
    fail(error);
  }
});

$("like").addEventListener("click", async () => {
  if (!current) return;
  try {
    const state = current.liked ? await feed.unlike(current.id) : await feed.like(current.id);
    Object.assign(current, { liked: state.liked, likes: state.likes });
    showPlayerControls();
    loadRanking();
  } catch (error) {
    fail(error);
  }
});

// ---- Search, with suggestions -----------------------------------------------------------
const box = $("search");
const list = $("suggestions");
let active = -1;
let typing = 0;

function closeSuggestions() {
  list.hidden = true;
  box.setAttribute("aria-expanded", "false");
  box.removeAttribute("aria-activedescendant");
  active = -1;
}

function highlightOption(index) {
  const options = [...list.children];
  active = (index + options.length) % options.length;
  options.forEach((o, i) => o.setAttribute("aria-selected", String(i === active)));
  box.setAttribute("aria-activedescendant", options[active].id);
}

box.addEventListener("input", () => {
  clearTimeout(typing);
  const q = box.value.trim();
  if (!q) return closeSuggestions();
  typing = setTimeout(async () => {
    try {
      const { suggestions } = await search.suggest(q, { limit: 6 });
      if (box.value.trim() !== q) return;
      list.replaceChildren(...suggestions.map((s, i) => {
        const option = el("li", { id: `suggestion-${i}`, role: "option" }, s.text, el("span", { className: "kind", textContent: s.kind }));
        option.setAttribute("aria-selected", "false");
        option.addEventListener("mousedown", (e) => { e.preventDefault(); box.value = s.text; runSearch(); });
        return option;
      }));
      list.hidden = !suggestions.length;
      box.setAttribute("aria-expanded", String(!!suggestions.length));
      active = -1;
    } catch {
      closeSuggestions();
    }
  }, 150);
});
box.addEventListener("keydown", (event) => {
  if (list.hidden) return;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    highlightOption(active + (event.key === "ArrowDown" ? 1 : -1));
  } else if (event.key === "Enter" && active >= 0) {
    event.preventDefault();
    box.value = list.children[active].firstChild.textContent;
    runSearch();
  } else if (event.key === "Escape") {
    closeSuggestions();
  }
});
box.addEventListener("blur", closeSuggestions);
$("search-form").addEventListener("submit", (event) => { event.preventDefault(); runSearch(); });

async function runSearch() {
  closeSuggestions();
  const q = box.value.trim();
  if (!q) return;
  try {
    const results = await search.search({ q, limit: 20 });
    const items = results.items.map((hit) => {
      // Highlights are HTML-escaped by the server with <mark> around matches.
      const title = el("span", { className: "title", innerHTML: hit.highlight.title ?? hit.highlight.username ?? "" });
      const meta = el("span", { className: "meta", innerHTML: hit.highlight.description ?? hit.kind });
      const button = hit.kind === "video"
        ? el("button", { type: "button", className: "item media" }, coverImage(hit.item), title, meta)
        : el("button", { type: "button", className: "item" }, title, meta);
      if (hit.kind === "video") button.addEventListener("click", () => openVideo(hit.id));
      return el("li", { dataset: { kind: hit.kind, id: hit.id } }, button);
    });
    $("search-results").replaceChildren(...(items.length ? items : [el("li", { className: "muted", textContent: `Nothing matches “${q}”.` })]));
    $("results").hidden = false;
    $("results-heading").textContent = `Search results for “${q}”${results.degraded ? " (may be stale)" : ""}`;
  } catch (error) {
    fail(error);
  }
}

// ---- Start ------------------------------------------------------------------------------
showAccount(await client.restore().catch((error) => { fail(error); return null; }));
loadRanking();
setInterval(loadRanking, 30_000);
// A share page (/v/<id>) opens its video.
const shared = /^\/v\/(\d+)$/.exec(location.pathname);
if (shared) openVideo(shared[1]);
