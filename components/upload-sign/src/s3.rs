//! The object store as this component sees it: bucket and credentials from variables, and
//! presigned requests built with rusty-s3 (sans-IO; the caller sends them).

use std::time::Duration;

use edge_http::Problem;
use http::StatusCode;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

/// How long a server-side presigned request stays valid: it is sent at once.
const SERVER_SIGNATURE_TTL: Duration = Duration::from_secs(60);

/// A bucket with the credentials to sign requests for it.
pub struct Store {
    bucket: Bucket,
    credentials: Credentials,
}

fn misconfigured(detail: String) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", detail)
}

impl Store {
    /// Builds the store from endpoint, bucket, region and key values.
    pub fn new(endpoint: &str, bucket: &str, region: &str, access_key: &str, secret_key: &str) -> Result<Self, Problem> {
        let endpoint = endpoint
            .parse()
            .map_err(|e| misconfigured(format!("s3_endpoint {endpoint:?} is not a URL: {e}")))?;
        let bucket = Bucket::new(endpoint, UrlStyle::Path, bucket.to_owned(), region.to_owned())
            .map_err(|e| misconfigured(format!("s3 bucket settings are invalid: {e}")))?;
        Ok(Store { bucket, credentials: Credentials::new(access_key, secret_key) })
    }

    /// The store configured by the `s3_*` variables.
    pub fn from_variables() -> Result<Self, Problem> {
        let var = edge_spin::variable;
        Self::new(&var("s3_endpoint")?, &var("s3_bucket")?, &var("s3_region")?, &var("s3_access_key")?, &var("s3_secret_key")?)
    }

    /// A signed `HEAD /<bucket>`: succeeds only if the store is up, the bucket exists and the
    /// credentials are accepted.
    pub fn head_bucket(&self) -> http::Request<Vec<u8>> {
        let url = self.bucket.head_bucket(Some(&self.credentials)).sign(SERVER_SIGNATURE_TTL);
        http::Request::head(url.as_str()).body(Vec::new()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_bucket_is_a_presigned_path_style_url() {
        let store = Store::new("http://127.0.0.1:9000", "videos", "us-east-1", "AK", "SK").unwrap();
        let request = store.head_bucket();
        assert_eq!(request.method(), http::Method::HEAD);
        let url = request.uri().to_string();
        assert!(url.starts_with("http://127.0.0.1:9000/videos"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-Credential=AK%2F"), "{url}");
    }

    #[test]
    fn bad_endpoint_is_a_configuration_problem() {
        let err = Store::new("not a url", "b", "r", "k", "s").err().unwrap();
        assert_eq!(err.code(), "misconfigured");
    }
}
