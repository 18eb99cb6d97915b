//! Upload-sign's settings, each a Spin variable whose default and description are in spin.toml;
//! read by the route that uses it, through [`crate::uploads::Ports`] (a
//! [`Source`](edge_http::setting::Source)) in the upload core. The shared ones are
//! [`edge_spin::settings`].

use edge_http::setting::{Number, Text};

use crate::plan;

/// The object store's base URL.
pub(crate) const S3_ENDPOINT: Text = Text::new("s3_endpoint");
/// The bucket uploads go to.
pub(crate) const S3_BUCKET: Text = Text::new("s3_bucket");
/// The bucket's region.
pub(crate) const S3_REGION: Text = Text::new("s3_region");
/// The access key URLs are signed with.
pub(crate) const S3_ACCESS_KEY: Text = Text::new("s3_access_key");
/// The secret key URLs are signed with.
pub(crate) const S3_SECRET_KEY: Text = Text::new("s3_secret_key");
/// The HMAC key of upload receipts, shared with feed.
pub(crate) const UPLOAD_RECEIPT_KEY: Text = Text::new("upload_receipt_key");
/// The largest upload, in bytes.
pub(crate) const MAX_UPLOAD_BYTES: Number = Number::new("max_upload_bytes", 1, plan::MAX_PART * plan::MAX_PARTS);
/// The media types an upload may declare, comma-separated.
pub(crate) const ALLOWED_CONTENT_TYPES: Text = Text::new("allowed_content_types");
/// Unfinished uploads one user may have at once.
pub(crate) const MAX_ACTIVE_UPLOADS: Number = Number::new("max_active_uploads", 1, 10_000);
/// Bytes one user may upload per UTC day.
pub(crate) const MAX_UPLOAD_BYTES_PER_DAY: Number = Number::new("max_upload_bytes_per_day", 1, u64::MAX);
/// How long a signed part URL stays valid.
pub(crate) const PART_URL_TTL_SECS: Number = Number::new("part_url_ttl_secs", 1, 7 * 86_400);
/// How long an unfinished upload lives before cleanup aborts it.
pub(crate) const UPLOAD_TTL_SECS: Number = Number::new("upload_ttl_secs", 1, 30 * 86_400);
