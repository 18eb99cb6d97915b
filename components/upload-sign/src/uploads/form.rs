//! Single-request presigned URLs: a form upload for a small file (a cover picture), and a
//! download of a complete upload.

use std::time::Duration;

use edge_http::Problem;
use http::StatusCode;

use super::{day, over_daily, Ports, State, Upload, Uploads, DOWNLOAD_URL_TTL};
use crate::plan;
use crate::s3::{FormRules, FormUpload};

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
        let form = self.ports.store()?.form_upload(&rules, now / 1000, FORM_TTL);
        Ok((key, form, now + FORM_TTL.as_millis() as u64))
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
