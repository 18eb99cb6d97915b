//! AWS Signature Version 4 for S3, sans-IO: presigned URLs (the signature in the query) and
//! the signature of a browser form's POST policy.
//!
//! The signing time is given, not read, so a test pins AWS's published example byte for byte.
//! The signing key depends only on the secret, the day and the region, so a [`Signer`] derives it
//! once: each URL after that costs one SHA-256 and one HMAC (a 100-part batch signs 100).

use std::borrow::Cow;
use std::fmt::Write;

use edge_http::text::encode_component as encode;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm every SigV4 credential names.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Signs for one access key in one region at one instant.
pub(crate) struct Signer {
    /// `YYYYMMDDTHHMMSSZ`, the signing time.
    time: String,
    /// `date/region/s3/aws4_request`.
    scope: String,
    /// `access-key/` and the scope (`X-Amz-Credential`).
    credential: String,
    /// HMAC keyed with `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"),
    /// "aws4_request")`, cloned for each signature so the key is hashed in once.
    mac: Hmac<Sha256>,
}

/// One request to presign.
pub(crate) struct Presign<'a> {
    /// `GET`, `PUT`, ...
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The `Host` the request goes to (with its port, unless the scheme's default).
    pub host: &'a str,
    /// The path, unencoded (`/bucket/key`).
    pub path: &'a str,
    /// Query parameters besides the signature's own, unencoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers the sender must send exactly, lower-case names; `host` is always signed.
    pub headers: &'a [(&'a str, &'a str)],
    /// How long the URL stays valid.
    pub ttl: Duration,
}

impl Signer {
    /// A signer for `access_key`/`secret_key` in `region`, signing as at `now_secs` (Unix
    /// seconds).
    pub(crate) fn new(access_key: &str, secret_key: &str, region: &str, now_secs: u64) -> Self {
        let date = date(now_secs);
        let key = ["s3", "aws4_request"]
            .iter()
            .fold(hmac(&hmac(format!("AWS4{secret_key}").as_bytes(), date.as_bytes()), region.as_bytes()), |key, part| {
                hmac(&key, part.as_bytes())
            });
        let scope = format!("{date}/{region}/s3/aws4_request");
        Signer {
            time: basic_time(now_secs),
            credential: format!("{access_key}/{scope}"),
            scope,
            mac: Hmac::new_from_slice(&key).expect("HMAC takes any key length"),
        }
    }

    /// The signing time, `YYYYMMDDTHHMMSSZ` (`X-Amz-Date`).
    pub(crate) fn time(&self) -> &str {
        &self.time
    }

    /// `access-key/date/region/s3/aws4_request` (`X-Amz-Credential`).
    pub(crate) fn credential(&self) -> &str {
        &self.credential
    }

    /// The lower-case hex signature of `text` (for a POST policy, the base64 policy itself).
    pub(crate) fn signature(&self, text: &[u8]) -> String {
        self.sign(&[text])
    }

    /// The hex HMAC of `parts`, one after another.
    fn sign(&self, parts: &[&[u8]]) -> String {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        hex(&mac.finalize().into_bytes())
    }

    /// `request` as a presigned URL: its query in canonical order, then `X-Amz-Signature`. The
    /// canonical request is hashed as it is written out, never held whole.
    pub(crate) fn presign(&self, request: &Presign) -> String {
        let mut headers: Vec<(&str, &str)> = request.headers.iter().copied().chain([("host", request.host)]).collect();
        headers.sort_unstable();
        let signed_headers = headers.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(";");
        let expires = request.ttl.as_secs().to_string();
        let mut params: Vec<(Cow<str>, Cow<str>)> = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", &self.credential),
            ("X-Amz-Date", &self.time),
            ("X-Amz-Expires", &expires),
            ("X-Amz-SignedHeaders", &signed_headers),
        ]
        .iter()
        .chain(request.query)
        .map(|(name, value)| (encode(name, false), encode(value, false)))
        .collect();
        params.sort_unstable();
        let path = encode(request.path, true);
        let mut url =
            String::with_capacity(64 + request.host.len() + path.len() + params.iter().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>());
        let _ = write!(url, "{}://{}{path}?", request.scheme, request.host);
        let query_start = url.len();
        for (i, (name, value)) in params.iter().enumerate() {
            if i > 0 {
                url.push('&');
            }
            url.push_str(name);
            url.push('=');
            url.push_str(value);
        }

        let mut canonical = Sha256::new();
        for part in [request.method, "\n", &path, "\n", &url[query_start..], "\n"] {
            canonical.update(part);
        }
        for (name, value) in &headers {
            for part in [name, ":", value.trim(), "\n"] {
                canonical.update(part);
            }
        }
        for part in ["\n", &signed_headers, "\nUNSIGNED-PAYLOAD"] {
            canonical.update(part);
        }
        let hash = hex(&canonical.finalize());
        let signature =
            self.sign(&[ALGORITHM.as_bytes(), b"\n", self.time.as_bytes(), b"\n", self.scope.as_bytes(), b"\n", hash.as_bytes()]);
        url.push_str("&X-Amz-Signature=");
        url.push_str(&signature);
        url
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    out
}

/// The UTC calendar date and time of `secs` after the Unix epoch.
fn civil(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    // Howard Hinnant's days-to-civil, for days since 1970-01-01 (never negative here).
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let shifted = days + 719_468;
    let (era, day_of_era) = (shifted / 146_097, shifted % 146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day, rem / 3_600, rem % 3_600 / 60, rem % 60)
}

/// `YYYYMMDD`.
fn date(secs: u64) -> String {
    let (y, m, d, ..) = civil(secs);
    format!("{y:04}{m:02}{d:02}")
}

/// `YYYYMMDDTHHMMSSZ`, SigV4's time.
fn basic_time(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `YYYY-MM-DDTHH:MM:SS.000Z`, a POST policy's expiration.
pub(crate) fn iso_time(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.000Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example of a presigned GET (Signature Version 4, "Authenticating
    /// Requests: Using Query Parameters"), byte for byte.
    #[test]
    fn presigns_aws_published_example() {
        let signer = Signer::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", 1_369_353_600);
        let url = signer.presign(&Presign {
            method: "GET",
            scheme: "https",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            headers: &[],
            ttl: Duration::from_secs(86_400),
        });
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    /// AWS's published POST policy example (Signature Version 4, "Example: Browser-Based Upload
    /// using HTTP POST"): its base64 policy signed with its key on 2015-12-29.
    #[test]
    fn signs_aws_published_post_policy() {
        let signer = Signer::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", 1_451_347_200);
        let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        assert_eq!(signer.credential(), "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request");
        assert_eq!(signer.signature(policy.as_bytes()), "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e");
    }

    #[test]
    fn signed_headers_and_parameters_are_sorted_and_encoded() {
        let signer = Signer::new("AK", "SK", "us-east-1", 1_700_000_000);
        let url = signer.presign(&Presign {
            method: "PUT",
            scheme: "http",
            host: "127.0.0.1:9000",
            path: "/videos/uploads/u/a b.mp4",
            query: &[("uploadId", "x/y=z"), ("partNumber", "3")],
            headers: &[("x-amz-checksum-sha256", "n4bQ+/="), ("content-length", "7")],
            ttl: Duration::from_secs(60),
        });
        assert!(url.starts_with("http://127.0.0.1:9000/videos/uploads/u/a%20b.mp4?X-Amz-Algorithm="), "{url}");
        assert!(url.contains("&X-Amz-Date=20231114T221320Z&"), "{url}");
        assert!(
            url.contains(
                "X-Amz-SignedHeaders=content-length%3Bhost%3Bx-amz-checksum-sha256&partNumber=3&uploadId=x%2Fy%3Dz&X-Amz-Signature="
            ),
            "{url}"
        );
    }

    #[test]
    fn calendar_dates_match_known_instants() {
        assert_eq!(basic_time(0), "19700101T000000Z");
        assert_eq!(basic_time(951_782_400), "20000229T000000Z");
        assert_eq!(iso_time(1_700_000_600), "2023-11-14T22:23:20.000Z");
        assert_eq!(date(4_102_444_799), "20991231");
    }
}
