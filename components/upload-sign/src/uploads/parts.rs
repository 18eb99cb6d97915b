//! Parts: presigned part URLs within the plan, and the parts the store holds (to resume).

use std::collections::BTreeMap;

use edge_http::Problem;

use super::{Ports, SignedPart, Upload, Uploads};
use crate::plan;
use crate::s3::StoredPart;

impl<P: Ports> Uploads<'_, P> {
    /// Presigned part URLs for `numbers`, each signed for the part's exact length and, when
    /// given, its base64 SHA-256 (required for an upload that declared a content key).
    pub(crate) fn sign(&self, upload: &Upload, numbers: &[u64], checksums: &BTreeMap<String, String>) -> Result<Vec<SignedPart>, Problem> {
        self.usable(upload)?;
        plan::check_part_numbers(numbers, checksums, upload.max_part())?;
        let (Some(layout), Some(total)) = (&upload.layout, upload.size) else {
            return Err(Problem::conflict("upload-unsized", "this upload declared no size; abort it and start a new one with its size"));
        };
        if upload.content_key.is_some() {
            if let Some(&n) = numbers.iter().find(|n| !checksums.contains_key(&n.to_string())) {
                return Err(Problem::bad_request(
                    "checksum-required",
                    "an upload with a content key signs every part with its SHA-256: send checksums for each part number",
                )
                .with("part_number", n));
            }
        }
        let s3_id = upload.s3_upload_id.as_deref().unwrap_or_default();
        let ttl = self.part_url_ttl()?;
        let store = self.ports.store()?;
        let signed = numbers.iter().map(|&n| {
            let checksum = checksums.get(&n.to_string()).map(String::as_str);
            let size = layout.part_len(n, total).unwrap_or(0);
            let (url, headers) = store.sign_part(&upload.key, s3_id, n as u16, size, checksum, ttl);
            SignedPart { part_number: n, url, headers: headers.into_iter().collect(), size }
        });
        Ok(signed.collect())
    }

    /// Every part the store holds for this upload, in part order.
    pub(crate) async fn stored_parts(&self, upload: &Upload) -> Result<Vec<StoredPart>, Problem> {
        self.ports.list_parts(&upload.key, upload.s3_upload_id.as_deref().unwrap_or_default()).await
    }
}
