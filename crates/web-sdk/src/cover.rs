//! A video's cover when the user picks no picture: one frame of the video file, drawn by the
//! browser (a `<video>` and a canvas) and uploaded as a JPEG. The rules: where to seek, how big
//! to draw, how to encode, how long to try.

/// Widest frame drawn, in pixels: lists show covers small, and the JPEG stays a few tens of KB.
pub const MAX_WIDTH: u32 = 640;
/// `canvas.toBlob` quality.
pub const JPEG_QUALITY: f64 = 0.8;
/// The frame's type and the name it is uploaded under.
pub const CONTENT_TYPE: &str = "image/jpeg";
/// See [`CONTENT_TYPE`].
pub const FILENAME: &str = "cover.jpg";
/// How long grabbing and uploading a frame may take before the video is published without a
/// cover.
pub const TIMEOUT_MS: f64 = 5_000.0;

/// Where to take the frame, in seconds, from the `<video>`'s `duration`: one second in (past a
/// fade from black), or a third of a shorter video. An unknown duration (`NaN`) takes the first
/// frame; an unbounded one (`Infinity`, as a recorded WebM reports) takes the second.
pub fn seek_secs(duration: f64) -> f64 {
    if duration.is_nan() || duration <= 0.0 {
        return 0.0;
    }
    (duration / 3.0).min(1.0)
}

/// The size to draw a `width` × `height` frame at: at most [`MAX_WIDTH`] wide with the same
/// aspect ratio (rounded, at least a pixel high), never enlarged. `None` for a frame without
/// pixels (a file with no video track).
pub fn scaled(width: u32, height: u32) -> Option<(u32, u32)> {
    if width == 0 || height == 0 {
        return None;
    }
    if width <= MAX_WIDTH {
        return Some((width, height));
    }
    let (width, height, max) = (u64::from(width), u64::from(height), u64::from(MAX_WIDTH));
    let scaled = ((height * max + width / 2) / width).max(1);
    Some((MAX_WIDTH, scaled as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_is_a_second_in_or_a_third_of_a_short_video() {
        assert_eq!(seek_secs(120.0), 1.0);
        assert_eq!(seek_secs(3.0), 1.0);
        assert_eq!(seek_secs(1.5), 0.5);
        assert_eq!(seek_secs(f64::INFINITY), 1.0, "a recorded WebM without a duration");
        for unknown in [f64::NAN, 0.0, -1.0] {
            assert_eq!(seek_secs(unknown), 0.0, "{unknown}");
        }
    }

    #[test]
    fn frames_shrink_to_640_wide_keeping_their_shape() {
        assert_eq!(scaled(1920, 1080), Some((640, 360)));
        assert_eq!(scaled(1080, 1920), Some((640, 1138)), "portrait: 1137.8 rounds up");
        assert_eq!(scaled(641, 480), Some((640, 479)));
        assert_eq!(scaled(320, 240), Some((320, 240)), "never enlarged");
        assert_eq!(scaled(640, 1), Some((640, 1)));
        assert_eq!(scaled(100_000, 1), Some((640, 1)), "at least a pixel high");
        assert_eq!(scaled(u32::MAX, u32::MAX), Some((640, 640)), "no overflow");
        assert_eq!(scaled(0, 480), None);
        assert_eq!(scaled(640, 0), None);
    }
}
