//! The object store as this component sees it: bucket and credentials from variables, and
//! every S3 request built here, sans-IO (these functions build requests and parse answers; the
//! adapter sends them), presigned by [`crate::sigv4`].

use std::time::Duration;

use base64ct::{Base64, Encoding};
use edge_http::Problem;
use http::StatusCode;
use instant_xml::{FromXml, ToXml};
use serde::Serialize;

use crate::sigv4::{self, Presign, Signer};

/// The header that asks the store to keep a checksum of every part.
const CHECKSUM_ALGORITHM: &str = "x-amz-checksum-algorithm";

/// How long a server-side presigned request stays valid: it is sent at once.
const SERVER_SIGNATURE_TTL: Duration = Duration::from_secs(60);

/// A bucket with the credentials to sign requests for it, at one instant (a request's).
pub(crate) struct Store {
    /// `http` or `https`.
    scheme: String,
    /// The endpoint's host, with its port unless the scheme's default.
    authority: String,
    bucket: String,
    /// AWS itself wants bucket names in the host (`bucket.s3.amazonaws.com`); MinIO and other
    /// self-hosted stores are addressed by path (`host/bucket`).
    virtual_host: bool,
    signer: Signer,
    /// The signing time, Unix seconds.
    now_secs: u64,
}

/// One uploaded part as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredPart {
    /// 1-based part number.
    pub number: u64,
    /// The ETag the store gave it (quotes included, as S3 sends it).
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// The base64 SHA-256 the store computed and checked, when the upload has checksums.
    pub checksum: Option<String>,
}

/// S3's namespace, which its answers carry.
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A `CreateMultipartUpload` answer, as much of it as is used.
#[derive(FromXml)]
#[xml(rename = "InitiateMultipartUploadResult", ns(S3_NS))]
struct Created {
    #[xml(rename = "UploadId")]
    upload_id: String,
}

/// A `CompleteMultipartUpload` answer, as much of it as is used.
#[derive(FromXml)]
#[xml(rename = "CompleteMultipartUploadResult", ns(S3_NS))]
struct Completed {
    #[xml(rename = "ETag")]
    etag: String,
}

/// A `ListParts` answer, as much of it as is used.
#[derive(FromXml)]
#[xml(rename = "ListPartsResult", ns(S3_NS))]
struct ListPartsResult {
    parts: Vec<ListedPart>,
    #[xml(rename = "IsTruncated")]
    is_truncated: Option<bool>,
    #[xml(rename = "NextPartNumberMarker")]
    next_marker: Option<u64>,
}

#[derive(FromXml)]
#[xml(rename = "Part", ns(S3_NS))]
struct ListedPart {
    #[xml(rename = "PartNumber")]
    number: u64,
    #[xml(rename = "ETag")]
    etag: String,
    #[xml(rename = "Size")]
    size: u64,
    #[xml(rename = "ChecksumSHA256")]
    checksum: Option<String>,
}

/// The body of `CompleteMultipartUpload`.
#[derive(ToXml)]
#[xml(rename = "CompleteMultipartUpload", ns(S3_NS))]
struct CompleteBody<'a> {
    parts: Vec<CompletePart<'a>>,
}

#[derive(ToXml)]
#[xml(rename = "Part", ns(S3_NS))]
struct CompletePart<'a> {
    #[xml(rename = "ChecksumSHA256")]
    checksum: Option<&'a str>,
    #[xml(rename = "ETag")]
    etag: &'a str,
    #[xml(rename = "PartNumber")]
    number: u64,
}

/// A page of `ListParts`.
#[derive(Debug, Clone)]
pub(crate) struct PartsPage {
    /// Parts on this page.
    pub parts: Vec<StoredPart>,
    /// Where the next page starts, if there is one.
    pub next_marker: Option<u64>,
}

/// A browser form upload (S3 `POST Object` with a signed policy): post `fields`, then the file
/// as the last field named `file`, as `multipart/form-data` to `url`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FormUpload {
    /// The bucket URL to post to.
    pub url: String,
    /// Form fields to send before the file, in this order.
    pub fields: Vec<(String, String)>,
}

impl FormUpload {
    /// The fields as one JSON object, as Uppy takes them (it appends the file itself).
    pub(crate) fn field_object(&self) -> serde_json::Map<String, serde_json::Value> {
        self.fields.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect()
    }
}

/// What a form upload may contain: the store refuses anything else.
#[derive(Debug, Clone)]
pub(crate) struct FormRules<'a> {
    /// The exact object key.
    pub key: &'a str,
    /// The exact `Content-Type`.
    pub content_type: &'a str,
    /// Smallest accepted file, bytes.
    pub min_size: u64,
    /// Largest accepted file, bytes.
    pub max_size: u64,
}

/// A 502 for an answer from the store that is not what S3 promises.
pub(crate) fn bad_gateway(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_GATEWAY, "storage-error", detail)
}

fn request(method: http::Method, url: &str, body: Vec<u8>) -> http::Request<Vec<u8>> {
    // S3 wants Content-Length on bodies (411 otherwise); wasi-http would stream them chunked.
    http::Request::builder().method(method).uri(url).header(http::header::CONTENT_LENGTH, body.len()).body(body).unwrap_or_default()
}

fn text(body: &[u8]) -> Result<&str, Problem> {
    std::str::from_utf8(body).map_err(|_| bad_gateway("the store's answer is not text"))
}

impl Store {
    /// Builds the store from endpoint, bucket, region and key values, signing as at `now_secs`
    /// (Unix seconds).
    pub(crate) fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
        now_secs: u64,
    ) -> Result<Self, Problem> {
        let misconfigured =
            |why: &str| Problem::misconfigured(format!("s3_endpoint {endpoint:?} is not an http(s) URL with an ASCII host: {why}"));
        let uri: http::Uri = endpoint.parse().map_err(|e: http::uri::InvalidUri| misconfigured(&e.to_string()))?;
        let scheme = uri.scheme_str().filter(|s| *s == "http" || *s == "https").ok_or_else(|| misconfigured("no http or https"))?;
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| misconfigured("no host"))?;
        if !matches!(uri.path(), "" | "/") {
            return Err(misconfigured("a path (give the bucket in s3_bucket)"));
        }
        if bucket.is_empty() || !bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
            return Err(Problem::misconfigured(format!("s3_bucket {bucket:?} is not an S3 bucket name")));
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        let authority = match uri.port_u16() {
            Some(port) if port != default_port => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        Ok(Store {
            scheme: scheme.to_owned(),
            virtual_host: host == "amazonaws.com" || host.ends_with(".amazonaws.com"),
            authority,
            bucket: bucket.to_owned(),
            signer: Signer::new(access_key, secret_key, region, now_secs),
            now_secs,
        })
    }

    /// The store configured by the `s3_*` variables, signing as at now.
    pub(crate) fn from_variables() -> Result<Self, Problem> {
        use crate::settings::{S3_ACCESS_KEY, S3_BUCKET, S3_ENDPOINT, S3_REGION, S3_SECRET_KEY};
        let var = edge_spin::setting;
        let now_secs = edge_spin::redis::now_ms() / 1000;
        Self::new(&var(&S3_ENDPOINT)?, &var(&S3_BUCKET)?, &var(&S3_REGION)?, &var(&S3_ACCESS_KEY)?, &var(&S3_SECRET_KEY)?, now_secs)
    }

    /// The host requests for this bucket go to.
    fn host(&self) -> String {
        if self.virtual_host {
            format!("{}.{}", self.bucket, self.authority)
        } else {
            self.authority.clone()
        }
    }

    /// The path of `key` in the bucket (`key` empty: the bucket itself).
    fn path(&self, key: &str) -> String {
        if self.virtual_host {
            format!("/{key}")
        } else {
            format!("/{}/{key}", self.bucket)
        }
    }

    /// `method` on `key` (empty: the bucket) with `query`, presigned for `ttl`.
    fn presign(&self, method: &http::Method, key: &str, query: &[(&str, &str)], headers: &[(&str, &str)], ttl: Duration) -> String {
        let path = self.path(key);
        let path = if key.is_empty() && !self.virtual_host { path.trim_end_matches('/') } else { &path };
        let host = self.host();
        self.signer.presign(&Presign { method: method.as_str(), scheme: &self.scheme, host: &host, path, query, headers, ttl })
    }

    /// A request the store takes at once, presigned for [`SERVER_SIGNATURE_TTL`].
    fn server(
        &self,
        method: http::Method,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> http::Request<Vec<u8>> {
        let url = self.presign(&method, key, query, headers, SERVER_SIGNATURE_TTL);
        let mut req = request(method, &url, body);
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(*name), http::HeaderValue::from_str(value)) {
                req.headers_mut().insert(name, value);
            }
        }
        req
    }

    /// A signed `HEAD /<bucket>`: succeeds only if the store is up, the bucket exists and the
    /// credentials are accepted.
    pub(crate) fn head_bucket(&self) -> http::Request<Vec<u8>> {
        self.server(http::Method::HEAD, "", &[], &[], Vec::new())
    }

    /// `CreateMultipartUpload` for `key` with its content type; `checksummed` asks the store to
    /// keep a SHA-256 of every part (`x-amz-checksum-algorithm: SHA256`), which every part must
    /// then carry and the completion must list.
    pub(crate) fn create_multipart(&self, key: &str, content_type: &str, checksummed: bool) -> http::Request<Vec<u8>> {
        let headers: &[(&str, &str)] =
            if checksummed { &[("content-type", content_type), (CHECKSUM_ALGORITHM, "SHA256")] } else { &[("content-type", content_type)] };
        self.server(http::Method::POST, key, &[("uploads", "")], headers, Vec::new())
    }

    /// The S3 upload id from a `CreateMultipartUpload` answer.
    pub(crate) fn parse_create(body: &[u8]) -> Result<String, Problem> {
        let created: Created =
            instant_xml::from_str(text(body)?).map_err(|e| bad_gateway(format!("unexpected CreateMultipartUpload answer: {e}")))?;
        Ok(created.upload_id)
    }

    /// A presigned `PUT` for one part, valid for `ttl`. Its `Content-Length` is part of the
    /// signature, so the store refuses a body of any other size. With `checksum` (base64 SHA-256
    /// of the part) so is `x-amz-checksum-sha256`: the browser must send it, and the store
    /// refuses bytes that do not match it. Answers the URL and the headers to send (browsers set
    /// `Content-Length` themselves).
    pub(crate) fn sign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        length: u64,
        checksum: Option<&str>,
        ttl: Duration,
    ) -> (String, Vec<(String, String)>) {
        let (number, length) = (number.to_string(), length.to_string());
        let query = [("partNumber", number.as_str()), ("uploadId", upload_id)];
        match checksum {
            None => (self.presign(&http::Method::PUT, key, &query, &[("content-length", &length)], ttl), Vec::new()),
            Some(sum) => {
                let headers = [("content-length", length.as_str()), ("x-amz-checksum-sha256", sum)];
                (self.presign(&http::Method::PUT, key, &query, &headers, ttl), vec![("x-amz-checksum-sha256".to_owned(), sum.to_owned())])
            }
        }
    }

    /// One page of `ListParts`, starting after part `marker`.
    pub(crate) fn list_parts(&self, key: &str, upload_id: &str, marker: Option<u64>) -> http::Request<Vec<u8>> {
        let marker = marker.map(|m| m.to_string());
        let mut query = vec![("max-parts", "1000"), ("uploadId", upload_id)];
        if let Some(marker) = &marker {
            query.push(("part-number-marker", marker));
        }
        self.server(http::Method::GET, key, &query, &[], Vec::new())
    }

    /// Parses a `ListParts` page. S3 and MinIO always send `IsTruncated`; some compatible
    /// servers (s3s-fs) leave it out of a complete, single-page listing.
    pub(crate) fn parse_parts(body: &[u8]) -> Result<PartsPage, Problem> {
        let page: ListPartsResult =
            instant_xml::from_str(text(body)?).map_err(|e| bad_gateway(format!("unexpected ListParts answer: {e}")))?;
        let truncated = page.is_truncated.unwrap_or(false);
        let next_marker = match (truncated, page.next_marker) {
            (false, _) => None,
            (true, Some(next @ 1..)) => Some(next),
            (true, _) => return Err(bad_gateway("a truncated ListParts answer without NextPartNumberMarker")),
        };
        let parts =
            page.parts.into_iter().map(|p| StoredPart { number: p.number, etag: p.etag, size: p.size, checksum: p.checksum }).collect();
        Ok(PartsPage { parts, next_marker })
    }

    /// `CompleteMultipartUpload` with the parts' ETags (and checksums, which S3 requires when
    /// the upload has them), part 1 first.
    pub(crate) fn complete(&self, key: &str, upload_id: &str, parts: &[StoredPart]) -> http::Request<Vec<u8>> {
        let parts = parts.iter().map(|p| CompletePart { checksum: p.checksum.as_deref(), etag: &p.etag, number: p.number }).collect();
        let body = instant_xml::to_string(&CompleteBody { parts }).unwrap_or_default();
        self.server(http::Method::POST, key, &[("uploadId", upload_id)], &[], body.into_bytes())
    }

    /// The final ETag from a `CompleteMultipartUpload` answer (S3 may answer 200 with an
    /// error document, so the body decides).
    pub(crate) fn parse_complete(body: &[u8]) -> Result<String, Problem> {
        let text = text(body)?;
        if text.contains("<Error>") {
            return Err(bad_gateway(format!("the store refused to complete: {}", text.chars().take(300).collect::<String>())));
        }
        let completed: Completed =
            instant_xml::from_str(text).map_err(|e| bad_gateway(format!("unexpected CompleteMultipartUpload answer: {e}")))?;
        Ok(completed.etag)
    }

    /// `AbortMultipartUpload`.
    pub(crate) fn abort(&self, key: &str, upload_id: &str) -> http::Request<Vec<u8>> {
        self.server(http::Method::DELETE, key, &[("uploadId", upload_id)], &[], Vec::new())
    }

    /// `DeleteObject` (the store answers 204 whether or not the key exists).
    pub(crate) fn delete_object(&self, key: &str) -> http::Request<Vec<u8>> {
        self.server(http::Method::DELETE, key, &[], &[], Vec::new())
    }

    /// A signed `POST` policy (SigV4) for one browser form upload obeying `rules`, valid for
    /// `ttl`.
    pub(crate) fn form_upload(&self, rules: &FormRules, ttl: Duration) -> FormUpload {
        let (credential, amz_date) = (self.signer.credential().to_owned(), self.signer.time().to_owned());
        let policy = serde_json::json!({
            "expiration": sigv4::iso_time(self.now_secs + ttl.as_secs()),
            "conditions": [
                { "bucket": self.bucket },
                { "key": rules.key },
                { "Content-Type": rules.content_type },
                ["content-length-range", rules.min_size, rules.max_size],
                { "x-amz-algorithm": sigv4::ALGORITHM },
                { "x-amz-credential": credential },
                { "x-amz-date": amz_date },
            ],
        });
        let policy = Base64::encode_string(policy.to_string().as_bytes());
        let signature = self.signer.signature(policy.as_bytes());
        let fields = [
            ("key", rules.key.to_owned()),
            ("Content-Type", rules.content_type.to_owned()),
            ("x-amz-algorithm", sigv4::ALGORITHM.to_owned()),
            ("x-amz-credential", credential),
            ("x-amz-date", amz_date),
            ("policy", policy),
            ("x-amz-signature", signature),
        ];
        let url = format!("{}://{}{}", self.scheme, self.host(), self.path(""));
        FormUpload { url, fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() }
    }

    /// A signed ranged `GET` of `len` bytes of `key` from `offset`.
    pub(crate) fn get_range(&self, key: &str, offset: u64, len: u64) -> http::Request<Vec<u8>> {
        let mut req = self.server(http::Method::GET, key, &[], &[], Vec::new());
        let range = format!("bytes={offset}-{}", offset + len.max(1) - 1);
        req.headers_mut().insert(http::header::RANGE, http::HeaderValue::from_str(&range).expect("digits are a valid header"));
        req
    }

    /// A presigned `GET` of `key`, valid for `ttl`.
    pub(crate) fn sign_get(&self, key: &str, ttl: Duration) -> String {
        self.presign(&http::Method::GET, key, &[], &[], ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new("http://127.0.0.1:9000", "videos", "us-east-1", "AK", "SK", 1_700_000_000).unwrap()
    }

    /// AWS's published example of a presigned GET (Signature Version 4, "Authenticating Requests:
    /// Using Query Parameters"), byte for byte: an amazonaws.com endpoint takes the bucket in the
    /// host.
    #[test]
    fn presigned_get_matches_aws_published_example() {
        let store = Store::new(
            "https://s3.amazonaws.com",
            "examplebucket",
            "us-east-1",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            1_369_353_600,
        )
        .unwrap();
        assert_eq!(
            store.sign_get("test.txt", Duration::from_secs(86400)),
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn an_endpoint_is_an_ascii_host_and_anything_else_is_misconfigured() {
        let refused = Store::new("http://bücher.example:9000", "videos", "us-east-1", "AK", "SK", 0).err().expect("refused");
        assert_eq!(refused.status(), 500);
        assert!(format!("{refused:?}").contains("s3_endpoint"), "{refused:?}");
        assert!(Store::new("http://minio.internal:9000", "videos", "us-east-1", "AK", "SK", 0).is_ok());
    }

    #[test]
    fn head_bucket_is_a_presigned_path_style_url() {
        let request = store().head_bucket();
        assert_eq!(request.method(), http::Method::HEAD);
        let url = request.uri().to_string();
        assert!(url.starts_with("http://127.0.0.1:9000/videos"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-Credential=AK%2F"), "{url}");
    }

    #[test]
    fn part_urls_bind_the_length_and_the_checksum_into_the_signature() {
        let (plain, none) = store().sign_part("k", "up", 3, 5242880, None, Duration::from_secs(60));
        assert!(plain.contains("partNumber=3") && plain.contains("uploadId=up"), "{plain}");
        assert!(plain.contains("X-Amz-SignedHeaders=content-length%3Bhost&"), "{plain}");
        assert!(none.is_empty(), "browsers send Content-Length themselves");
        let (other, _) = store().sign_part("k", "up", 3, 5242881, None, Duration::from_secs(60));
        assert_ne!(signature(&plain), signature(&other), "another length, another signature");
        let (bound, headers) =
            store().sign_part("k", "up", 3, 7, Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="), Duration::from_secs(60));
        assert!(bound.contains("X-Amz-SignedHeaders=content-length%3Bhost%3Bx-amz-checksum-sha256"), "{bound}");
        assert_eq!(headers, [("x-amz-checksum-sha256".to_owned(), "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".to_owned())]);
    }

    fn signature(url: &str) -> &str {
        url.split("X-Amz-Signature=").nth(1).unwrap()
    }

    #[test]
    fn a_checksummed_upload_asks_the_store_for_sha256_in_a_signed_header() {
        let plain = store().create_multipart("k", "video/mp4", false);
        assert!(plain.headers().get("x-amz-checksum-algorithm").is_none());
        assert!(plain.uri().to_string().contains("X-Amz-SignedHeaders=content-type%3Bhost&"), "{}", plain.uri());
        let checked = store().create_multipart("k", "video/mp4", true);
        assert_eq!(checked.headers()["x-amz-checksum-algorithm"], "SHA256");
        assert_eq!(checked.headers()[http::header::CONTENT_TYPE], "video/mp4");
        let url = checked.uri().to_string();
        assert!(url.contains("&uploads="), "{url}");
        assert!(url.contains("X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-checksum-algorithm"), "{url}");
    }

    /// AWS's documented `ListParts` answer (S3 API Reference, ListParts, "Sample Response"),
    /// with the `ChecksumSHA256` a part of a checksummed upload carries.
    const AWS_LIST_PARTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket>
  <Key>example-object</Key>
  <UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>
  <Initiator>
      <ID>arn:aws:iam::111122223333:user/some-user-11116a31-17b5-4fb7-9df5-b288870f11xx</ID>
      <DisplayName>umat-user-11116a31-17b5-4fb7-9df5-b288870f11xx</DisplayName>
  </Initiator>
  <Owner>
    <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>
    <DisplayName>someName</DisplayName>
  </Owner>
  <StorageClass>STANDARD</StorageClass>
  <PartNumberMarker>1</PartNumberMarker>
  <NextPartNumberMarker>3</NextPartNumberMarker>
  <MaxParts>2</MaxParts>
  <IsTruncated>true</IsTruncated>
  <ChecksumAlgorithm>SHA256</ChecksumAlgorithm>
  <Part>
    <ChecksumSHA256>n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=</ChecksumSHA256>
    <PartNumber>2</PartNumber>
    <LastModified>2010-11-10T20:48:34.000Z</LastModified>
    <ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag>
    <Size>10485760</Size>
  </Part>
  <Part>
    <PartNumber>3</PartNumber>
    <LastModified>2010-11-10T20:48:33.000Z</LastModified>
    <ETag>"aaaa18db4cc2f85cedef654fccc4a4x8"</ETag>
    <Size>10485760</Size>
  </Part>
</ListPartsResult>"#;

    #[test]
    fn parses_aws_documented_answers() {
        let page = Store::parse_parts(AWS_LIST_PARTS.as_bytes()).unwrap();
        assert_eq!(page.next_marker, Some(3));
        assert_eq!(
            page.parts,
            [
                StoredPart {
                    number: 2,
                    etag: "\"7778aef83f66abc1fa1e8477f296d394\"".into(),
                    size: 10485760,
                    checksum: Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".into())
                },
                StoredPart { number: 3, etag: "\"aaaa18db4cc2f85cedef654fccc4a4x8\"".into(), size: 10485760, checksum: None },
            ]
        );
        let last = AWS_LIST_PARTS.replace("<IsTruncated>true</IsTruncated>", "<IsTruncated>false</IsTruncated>");
        assert_eq!(Store::parse_parts(last.as_bytes()).unwrap().next_marker, None);
        let broken = AWS_LIST_PARTS.replace("<NextPartNumberMarker>3</NextPartNumberMarker>", "");
        assert_eq!(Store::parse_parts(broken.as_bytes()).unwrap_err().code(), "storage-error");
        // AWS's documented InitiateMultipartUploadResult and CompleteMultipartUploadResult.
        let created = br#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket>
  <Key>example-object</Key>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>"#;
        assert_eq!(Store::parse_create(created).unwrap(), "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
        let completed = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Location>http://Example-Bucket.s3.region.amazonaws.com/Example-Object</Location>
  <Bucket>Example-Bucket</Bucket>
  <Key>Example-Object</Key>
  <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>
  <ChecksumSHA256>n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=-9</ChecksumSHA256>
</CompleteMultipartUploadResult>"#;
        assert_eq!(Store::parse_complete(completed).unwrap(), "\"3858f62230ac3c915f300c664312c11f-9\"");
        // S3 may answer a completion 200 with an error document.
        let failed = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InvalidPart</Code><Message>One or more of the specified parts could not be found.</Message></Error>"#;
        assert_eq!(Store::parse_complete(failed).unwrap_err().code(), "storage-error");
        assert_eq!(Store::parse_create(b"<Error><Code>AccessDenied</Code></Error>").unwrap_err().code(), "storage-error");
    }

    #[test]
    fn completion_lists_parts_as_aws_documents_them() {
        let part = |number, etag: &str, checksum: Option<&str>| StoredPart {
            number,
            etag: etag.into(),
            size: 1,
            checksum: checksum.map(str::to_owned),
        };
        let request = store().complete(
            "k",
            "up",
            &[
                part(1, "\"a54357aff0632cce46d942af68356b38\"", Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")),
                part(2, "\"0c78aef83f66abc1fa1e8477f296d394\"", None),
            ],
        );
        assert_eq!(request.method(), http::Method::POST);
        assert!(request.uri().to_string().contains("uploadId=up"), "{}", request.uri());
        let body = String::from_utf8(request.body().clone()).unwrap();
        assert_eq!(
            body,
            concat!(
                r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
                r#"<Part><ChecksumSHA256>n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=</ChecksumSHA256><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag><PartNumber>1</PartNumber></Part>"#,
                r#"<Part><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag><PartNumber>2</PartNumber></Part>"#,
                "</CompleteMultipartUpload>"
            )
        );
        assert_eq!(request.headers()[http::header::CONTENT_LENGTH], body.len().to_string().as_str());
    }

    #[test]
    fn parses_store_answers() {
        let minimal = br#"<?xml version="1.0"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>videos</Bucket><Key>k</Key><UploadId>u</UploadId><Part><PartNumber>1</PartNumber><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e1"</ETag><Size>3</Size></Part></ListPartsResult>"#;
        let page = Store::parse_parts(minimal).unwrap();
        assert_eq!((page.parts.len(), page.next_marker), (1, None), "a listing without MaxParts/IsTruncated (s3s-fs)");
    }

    #[test]
    fn form_policies_pin_key_type_and_size() {
        let rules = FormRules { key: "covers/u/abc.png", content_type: "image/png", min_size: 1, max_size: 99 };
        let form = store().form_upload(&rules, Duration::from_secs(600));
        assert_eq!(form.url, "http://127.0.0.1:9000/videos/");
        let field = |name: &str| form.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(field("x-amz-credential"), "AK/20231114/us-east-1/s3/aws4_request");
        assert_eq!(field("x-amz-date"), "20231114T221320Z");
        assert_eq!(field("x-amz-signature").len(), 64);
        let policy: serde_json::Value = serde_json::from_slice(&Base64::decode_vec(&field("policy")).unwrap()).unwrap();
        assert_eq!(policy["expiration"], "2023-11-14T22:23:20.000Z");
        let conditions = policy["conditions"].to_string();
        for expected in [
            r#"{"key":"covers/u/abc.png"}"#,
            r#"{"Content-Type":"image/png"}"#,
            r#"["content-length-range",1,99]"#,
            r#"{"bucket":"videos"}"#,
        ] {
            assert!(conditions.contains(expected), "{conditions} lacks {expected}");
        }
        let other = store().form_upload(&FormRules { max_size: 100, ..rules }, Duration::from_secs(600));
        assert_ne!(field("x-amz-signature"), other.fields[6].1, "the signature covers the policy");
    }

    #[test]
    fn ranged_reads_ask_for_exact_bytes() {
        let request = store().get_range("k", 10, 5);
        assert_eq!(request.headers()[http::header::RANGE], "bytes=10-14");
        assert!(request.uri().to_string().contains("X-Amz-Signature="));
    }

    #[test]
    fn deletes_are_signed_for_the_key() {
        let request = store().delete_object("uploads/u/abc.mp4");
        assert_eq!(request.method(), http::Method::DELETE);
        let url = request.uri().to_string();
        assert!(url.starts_with("http://127.0.0.1:9000/videos/uploads/u/abc.mp4?"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
    }

    #[test]
    fn bad_endpoint_is_a_configuration_problem() {
        let err = Store::new("not a url", "b", "r", "k", "s", 0).err().unwrap();
        assert_eq!(err.code(), "misconfigured");
    }
}
