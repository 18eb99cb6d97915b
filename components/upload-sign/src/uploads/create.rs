//! Starting a multipart upload: the declared file checked and planned, the owner's limits
//! reserved for its whole size, then the store's upload started (the reservation given back if
//! it refuses). The size is required: every part URL is signed for its exact length, so what an
//! upload can put in the store is what was charged.

use edge_http::Problem;

use super::{day, over_daily, Admission, Ports, Reservation, State, Upload, Uploads};
use crate::plan::{self, CreateRequest};
use crate::settings;

impl<P: Ports> Uploads<'_, P> {
    /// Starts a multipart upload.
    pub(crate) async fn create(&self, body: CreateRequest) -> Result<Upload, Problem> {
        let filename = plan::validate(&body, &self.limits()?)?;
        let Some(size) = body.size else {
            return Err(Problem::bad_request(
                "size-required",
                "declare the file's size: parts are signed for their exact lengths (Uppy: set the file's meta.size)",
            )
            .with("field", "size"));
        };
        let layout = plan::layout(size, body.part_size)?;
        let owner = self.principal.user_id.clone();
        let id = self.ports.random_id();
        let max_active = self.ports.get(&settings::MAX_ACTIVE_UPLOADS)?;
        let max_daily = self.max_daily()?;
        let now = self.ports.now_ms();
        let expires_at = now + self.ports.get(&settings::UPLOAD_TTL_SECS)? * 1000;
        let reservation = Reservation { owner: owner.clone(), id: id.clone(), day: day(now), bytes: size, expires_at };
        match self.ports.admit(&reservation, max_active, max_daily)? {
            Admission::Admitted => {}
            Admission::TooManyActive => {
                return Err(Problem::too_many_requests(
                    "too-many-active-uploads",
                    format!("finish or abort an upload first: at most {max_active} at once (max_active_uploads)"),
                    60,
                )
                .with("limit", max_active))
            }
            Admission::OverDaily => return Err(over_daily(max_daily)),
        }
        let content_type = body.content_type.trim().to_ascii_lowercase();
        let key = plan::object_key(&owner, &id, &content_type);
        let checksummed = body.content_key.is_some();
        let s3_upload_id = match self.ports.create_multipart(&key, &content_type, checksummed).await {
            Ok(s3_id) => s3_id,
            Err(problem) => {
                // Give back what was reserved so a store outage does not eat the user's quota.
                self.ports.finish(&owner, &id)?;
                self.ports.refund(&owner, day(now), size)?;
                return Err(problem);
            }
        };
        let upload = Upload {
            id,
            owner,
            key,
            filename,
            size: Some(size),
            content_type,
            content_key: body.content_key.map(|s| s.to_ascii_lowercase()),
            layout: Some(layout),
            s3_upload_id: Some(s3_upload_id),
            created_at: now,
            expires_at,
            state: State::Active,
            receipt: None,
            etag: None,
            verified_key: None,
            detected: None,
        };
        self.ports.save(&upload)?;
        Ok(upload)
    }
}
