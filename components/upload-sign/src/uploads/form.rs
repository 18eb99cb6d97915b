//! Single-request presigned URLs: a form upload for a small file (a cover picture) and the
//! check of the picture it stored, and a download of a complete upload.

use std::time::Duration;

use edge_http::Problem;
use http::StatusCode;

use super::{day, over_daily, Ports, State, Upload, Uploads, DOWNLOAD_URL_TTL};
use crate::s3::{self, FormRules, FormUpload};
use crate::{plan, sniff};

/// How long a form upload policy stays valid.
const FORM_TTL: Duration = Duration::from_secs(10 * 60);

impl<P: Ports> Uploads<'_, P> {
    /// A form upload policy for a small file: exactly `size` bytes when declared, else anything
    /// up to the form limit, which is then what the daily quota is charged.
    pub(crate) fn form(&self, filename: &str, content_type: &str, size: Option<u64>) -> Result<(String, FormUpload, u64), Problem> {
        plan::clean_filename(filename)?;
        let limits = self.limits()?;
        plan::check_content_type(content_type, &limits)?;
        let max = limits.max_size.min(plan::MAX_FORM_UPLOAD);
        if let Some(size) = size {
            plan::check_size(size, limits.max_size)?;
            if size > plan::MAX_FORM_UPLOAD {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "use-multipart",
                    format!("form uploads carry at most {} bytes; start a multipart upload", plan::MAX_FORM_UPLOAD),
                )
                .with("limit", plan::MAX_FORM_UPLOAD));
            }
        }
        let max_daily = self.max_daily()?;
        let now = self.ports.now_ms();
        if !self.ports.charge(&self.principal.user_id, day(now), size.unwrap_or(max), max_daily)? {
            return Err(over_daily(max_daily));
        }
        let content_type = content_type.trim().to_ascii_lowercase();
        let key = plan::object_key(&self.principal.user_id, &self.ports.random_id(), &content_type);
        let rules = FormRules { key: &key, content_type: &content_type, min_size: size.unwrap_or(1), max_size: size.unwrap_or(max) };
        let form = self.ports.store()?.form_upload(&rules, FORM_TTL);
        Ok((key, form, now + FORM_TTL.as_millis() as u64))
    }

    /// Reads the first bytes of the caller's form-uploaded cover `key` and records it for feed
    /// if they are the picture its key names; anything else is deleted and refused. Its type.
    pub(crate) async fn check_cover(&self, key: &str) -> Result<&'static str, Problem> {
        let missing = || Problem::not_found("no-such-cover", "you have no cover picture under this key; upload it with POST /uploads/form");
        let content_type = plan::cover_type(key, &self.principal.user_id).ok_or_else(missing)?;
        let read = self.ports.read_range(key, 0, sniff::HEAD_BYTES).await?;
        match read.status {
            200 | 206 => {}
            404 => return Err(missing()),
            status => return Err(s3::bad_gateway(format!("the store did not return the picture's first bytes (HTTP {status})"))),
        }
        let found = sniff::detect(&read.body);
        if !sniff::is_picture(content_type, found) {
            self.ports.delete_object(key).await?;
            return Err(sniff::unrecognised(content_type, found));
        }
        self.ports.mark_cover(key, content_type)?;
        Ok(content_type)
    }

    /// A short-lived download URL for a complete upload and when it expires.
    pub(crate) fn download(&self, upload: &Upload) -> Result<(String, u64), Problem> {
        if upload.state != State::Complete {
            return Err(Problem::conflict("upload-not-complete", "the upload is not complete yet"));
        }
        let url = self.ports.store()?.sign_get(&upload.key, DOWNLOAD_URL_TTL);
        Ok((url, self.ports.now_ms() + DOWNLOAD_URL_TTL.as_millis() as u64))
    }
}
