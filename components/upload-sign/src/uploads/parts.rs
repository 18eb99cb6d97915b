//! Parts: presigned part URLs within the plan, and the parts the store holds (to resume).

use std::collections::BTreeMap;

use edge_http::Problem;

use super::{Ports, SignedPart, Upload, Uploads};
use crate::plan;
use crate::s3::StoredPart;

impl<P: Ports> Uploads<'_, P> {
    /// Presigned part URLs for `numbers`, each optionally bound to a base64 SHA-256.
    pub(crate) fn sign(&self, upload: &Upload, numbers: &[u64], checksums: &BTreeMap<String, String>) -> Result<Vec<SignedPart>, Problem> {
        self.usable(upload)?;
        plan::check_part_numbers(numbers, checksums, upload.max_part())?;
        let s3_id = upload.s3_upload_id.as_deref().unwrap_or_default();
        let ttl = self.part_url_ttl()?;
        let store = self.ports.store()?;
        let signed = numbers.iter().map(|&n| {
            let checksum = checksums.get(&n.to_string()).map(String::as_str);
            let (url, headers) = store.sign_part(&upload.key, s3_id, n as u16, checksum, ttl);
            let size = match (&upload.layout, upload.size) {
                (Some(layout), Some(total)) => layout.part_len(n, total),
                _ => None,
            };
            SignedPart { part_number: n, url, headers: headers.into_iter().collect(), size }
        });
        Ok(signed.collect())
    }

    /// Every part the store holds for this upload, in part order.
    pub(crate) async fn stored_parts(&self, upload: &Upload) -> Result<Vec<StoredPart>, Problem> {
        self.ports.list_parts(&upload.key, upload.s3_upload_id.as_deref().unwrap_or_default()).await
    }
}
