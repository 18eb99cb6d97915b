// Hashes a File off the page's thread with the SDK's own SHA-256 (Uploader starts it).
// Receives the File; answers {progress: bytes} as it goes, then {hashed} (the content key and
// part digests, as JSON) or {error}.
import init, { hashFile } from "./video_edge_sdk.js";

const ready = init();

self.onmessage = async ({ data: file }) => {
  try {
    await ready;
    const hashed = await hashFile(file, (bytes) => self.postMessage({ progress: bytes }));
    self.postMessage({ hashed });
  } catch (error) {
    self.postMessage({ error: String(error) });
  }
};
