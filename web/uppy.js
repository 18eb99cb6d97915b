// The Uppy page: stock Uppy's Dashboard (bundled by scripts/build-uppy) against upload-sign.
// Uppy 6 in companion mode and Uppy 4 send no token: the browser sends the upload-only cookie
// auth set at sign-in, which /uploads/s3/... accepts from this origin's own pages. In
// signRequest mode the page signs each S3 request through POST /uploads/s3/sign.
import init, { Client, Feed } from "/sdk/video_edge_sdk.js";

const params = new URLSearchParams(location.search);
const major = params.get("uppy") === "4" ? 4 : 6;
const mode = major === 6 && params.get("mode") === "sign" ? "sign" : "companion";
const $ = (id) => document.getElementById(id);

await init();
const client = new Client();
const feed = new Feed(client);
await Promise.all([script(`/vendor/uppy${major}.js`), stylesheet(`/vendor/uppy${major}.css`)]);
// Restoring the session refreshes it, which also renews the upload cookie.
const user = await client.restore().catch(() => null);
$("whoami").textContent = user ? `Signed in as ${user.display_name || user.username} · Uppy ${major}, ${mode}` : "";
if (!user) {
  $("whoami").append(Object.assign(document.createElement("a"), { href: "/", textContent: "Sign in first" }));
} else {
  start();
}

function start() {
  const { Uppy, AwsS3, Dashboard } = window.Uppy;
  // Every part URL is signed for its exact length, so upload-sign needs each file's size: in
  // companion mode Uppy sends the file's meta, so the size goes there.
  const uppy = new Uppy({
    restrictions: { allowedFileTypes: ["video/*"] },
    onBeforeFileAdded: (file) => ({ ...file, meta: { ...file.meta, size: file.size } }),
  });
  uppy.use(Dashboard, { inline: true, target: "#dashboard", height: 360, proudlyDisplayPoweredByUppy: false });
  // Videos always go in parts: only a multipart upload ends with the receipt that publishes it.
  if (mode === "sign") {
    // Uppy's requests to sign name the object key, not the file: remember each key's size.
    const sizes = new Map();
    const generateObjectKey = (file) => {
      const key = `${crypto.randomUUID()}-${file.name}`;
      sizes.set(key, file.size);
      return key;
    };
    const signRequest = (request) => client.request("POST", "/uploads/s3/sign", { ...request, size: sizes.get(request.key) });
    uppy.use(AwsS3, { shouldUseMultipart: true, generateObjectKey, signRequest });
  } else if (major === 6) {
    uppy.use(AwsS3, { companionEndpoint: "/uploads", shouldUseMultipart: true });
  } else {
    uppy.use(AwsS3, { endpoint: "/uploads", shouldUseMultipart: () => true });
  }
  uppy.on("upload-success", (file, response) => publish(file, response).catch((error) => show(file, `not published: ${error.message}`, "failed")));
  uppy.on("upload-error", (file, error) => show(file, `upload failed: ${error.message}`, "failed"));
}

// Uppy 4 passes the receipt on in the body; Uppy 6 keeps only `location`, whose fragment carries it.
async function publish(file, response) {
  const receipt = response.body?.receipt ?? new URLSearchParams(new URL(response.uploadURL).hash.slice(1)).get("receipt");
  const video = await feed.createVideo({ receipt, title: $("title").value.trim() || file.name });
  show(file, `published as “${video.title}”`, "published", video.id);
}

function show(file, text, outcome, video = "") {
  const item = Object.assign(document.createElement("li"), { textContent: `${file.name}: ${text}` });
  Object.assign(item.dataset, { outcome, video });
  $("published").append(item);
}

function script(src) {
  return new Promise((resolve, reject) => document.head.append(Object.assign(document.createElement("script"), { src, onload: resolve, onerror: () => reject(new Error(`cannot load ${src}; run scripts/build-uppy`)) })));
}

function stylesheet(href) {
  return new Promise((resolve) => document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href, onload: resolve, onerror: resolve })));
}
