//! Whether the browser can play a chosen file, before it is uploaded. Only a warning: the
//! server checks the content itself when the upload completes.

/// Whether a file of `content_type` plays in a `<video>`, given the browser's
/// `canPlayType(content_type)` answer (`""`, `"maybe"` or `"probably"`). Only `video/*` counts:
/// a picture or a sound is not a video even where the browser could show it.
pub fn playable(content_type: &str, can_play: &str) -> bool {
    let content_type = content_type.trim().to_ascii_lowercase();
    content_type.strip_prefix("video/").is_some_and(|subtype| !subtype.is_empty()) && !can_play.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_video_type_the_browser_may_play() {
        assert!(playable("video/mp4", "maybe"));
        assert!(playable(" Video/WebM ", "probably"));
        assert!(!playable("video/x-msvideo", ""), "the browser cannot play AVI");
        assert!(!playable("audio/mpeg", "probably"), "not a video");
        assert!(!playable("image/png", "maybe"));
        assert!(!playable("", ""), "no type: the browser could not tell");
        assert!(!playable("video/", "maybe"));
    }
}
