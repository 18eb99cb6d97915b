//! The S3 XML that `/uploads/s3/xml/...` speaks to Uppy's `signRequest` mode: the answers
//! Uppy parses (InitiateMultipartUploadResult, ListPartsResult, CompleteMultipartUploadResult)
//! and the CompleteMultipartUpload request it sends, through `instant-xml` (the crate that
//! reads the store's own answers in `s3.rs`). Pure.

use edge_http::Problem;
use instant_xml::{FromXml, ToXml};

const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

#[derive(ToXml)]
#[xml(rename = "InitiateMultipartUploadResult", ns(S3_NS))]
struct Initiated<'a> {
    #[xml(rename = "Key")]
    key: &'a str,
    #[xml(rename = "UploadId")]
    upload_id: &'a str,
}

#[derive(ToXml)]
#[xml(rename = "ListPartsResult", ns(S3_NS))]
struct Listed<'a> {
    #[xml(rename = "Key")]
    key: &'a str,
    #[xml(rename = "UploadId")]
    upload_id: &'a str,
    #[xml(rename = "IsTruncated")]
    truncated: bool,
    parts: Vec<ListedPart<'a>>,
}

#[derive(ToXml)]
#[xml(rename = "Part", ns(S3_NS))]
struct ListedPart<'a> {
    #[xml(rename = "PartNumber")]
    number: u64,
    #[xml(rename = "ETag")]
    etag: &'a str,
    #[xml(rename = "Size")]
    size: u64,
}

#[derive(ToXml)]
#[xml(rename = "CompleteMultipartUploadResult", ns(S3_NS))]
struct Completed<'a> {
    #[xml(rename = "Location")]
    location: &'a str,
    #[xml(rename = "Key")]
    key: &'a str,
}

/// The CompleteMultipartUpload body as Uppy sends it (no namespace).
#[derive(FromXml)]
#[xml(rename = "CompleteMultipartUpload")]
struct Complete {
    parts: Vec<CompletePart>,
}

#[derive(FromXml)]
#[xml(rename = "Part")]
struct CompletePart {
    #[xml(rename = "PartNumber")]
    number: u64,
    #[xml(rename = "ETag")]
    etag: String,
}

/// The same body as AWS's SDKs send it (in S3's namespace).
#[derive(FromXml)]
#[xml(rename = "CompleteMultipartUpload", ns(S3_NS))]
struct CompleteNs {
    parts: Vec<CompletePartNs>,
}

#[derive(FromXml)]
#[xml(rename = "Part", ns(S3_NS))]
struct CompletePartNs {
    #[xml(rename = "PartNumber")]
    number: u64,
    #[xml(rename = "ETag")]
    etag: String,
}

const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

fn document(body: &impl ToXml) -> String {
    format!("{DECLARATION}{}", instant_xml::to_string(body).unwrap_or_default())
}

/// The answer to CreateMultipartUpload: our key and our upload id as `UploadId`.
pub(crate) fn initiated(key: &str, upload_id: &str) -> String {
    document(&Initiated { key, upload_id })
}

/// The answer to ListParts: `(number, etag, size)` of each stored part.
pub(crate) fn parts(key: &str, upload_id: &str, parts: &[(u64, &str, u64)]) -> String {
    let parts = parts.iter().map(|&(number, etag, size)| ListedPart { number, etag, size }).collect();
    document(&Listed { key, upload_id, truncated: false, parts })
}

/// The answer to CompleteMultipartUpload (Uppy requires `Location` and `Key`).
pub(crate) fn completed(location: &str, key: &str) -> String {
    document(&Completed { location, key })
}

/// The `(part number, ETag)` pairs of a CompleteMultipartUpload body, in order.
pub(crate) fn parse_complete(body: &[u8]) -> Result<Vec<(u64, String)>, Problem> {
    let invalid = |why: String| Problem::bad_request("invalid-part-list", format!("CompleteMultipartUpload body: {why}"));
    let text = std::str::from_utf8(body).map_err(|_| invalid("not UTF-8".into()))?;
    let parts: Vec<(u64, String)> = match instant_xml::from_str::<Complete>(text) {
        Ok(plain) => plain.parts.into_iter().map(|p| (p.number, p.etag)).collect(),
        Err(plain) => match instant_xml::from_str::<CompleteNs>(text) {
            Ok(namespaced) => namespaced.parts.into_iter().map(|p| (p.number, p.etag)).collect(),
            Err(_) => return Err(invalid(plain.to_string())),
        },
    };
    if parts.is_empty() {
        return Err(invalid("no Part listed".into()));
    }
    Ok(parts.into_iter().map(|(n, etag)| (n, etag.trim().to_owned())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_what_uppy_reads_escaped() {
        let created = initiated("uploads/u1/abc.mp4", "abc");
        assert!(created.starts_with(DECLARATION), "{created}");
        assert!(created.contains("<Key>uploads/u1/abc.mp4</Key><UploadId>abc</UploadId>"), "{created}");
        let listed = parts("k", "abc", &[(1, "\"e1\"", 5), (2, "e2", 7)]);
        assert!(
            listed.contains(
                "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag><Size>5</Size></Part><Part><PartNumber>2</PartNumber>"
            ),
            "{listed}"
        );
        assert!(listed.contains("<IsTruncated>false</IsTruncated>"), "{listed}");
        let done = completed("https://s3/b/k?X-Amz-Signature=1&a=2#receipt=r.s", "k");
        assert!(done.contains("<Location>https://s3/b/k?X-Amz-Signature=1&amp;a=2#receipt=r.s</Location><Key>k</Key>"), "{done}");
    }

    #[test]
    fn answers_read_back_as_s3s_own() {
        let listed = parts("k", "abc", &[(1, "\"e1\"", 5)]);
        let page = crate::s3::Store::parse_parts(listed.as_bytes()).unwrap();
        assert_eq!((page.parts[0].number, page.parts[0].etag.as_str(), page.parts[0].size), (1, "\"e1\"", 5));
        assert_eq!(crate::s3::Store::parse_create(initiated("k", "abc").as_bytes()).unwrap(), "abc");
    }

    #[test]
    fn completion_bodies_parse_quoted_or_bare_etags_with_or_without_s3s_namespace() {
        let body = br#"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e-1"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>e-2</ETag></Part></CompleteMultipartUpload>"#;
        assert_eq!(parse_complete(body).unwrap(), [(1, "\"e-1\"".to_owned()), (2, "e-2".to_owned())]);
        let escaped =
            b"<CompleteMultipartUpload><Part><ETag>&quot;e&quot;</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>";
        assert_eq!(parse_complete(escaped).unwrap(), [(3, "\"e\"".to_owned())]);
        // AWS's documented request: namespaced, with whitespace between elements.
        let aws = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
   <Part>
      <ETag>"a54357aff0632cce46d942af68356b38"</ETag>
      <PartNumber>1</PartNumber>
   </Part>
</CompleteMultipartUpload>"#;
        assert_eq!(parse_complete(aws).unwrap(), [(1, "\"a54357aff0632cce46d942af68356b38\"".to_owned())]);
        for bad in [
            &b"<CompleteMultipartUpload></CompleteMultipartUpload>"[..],
            b"<Part><ETag>e</ETag></Part>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
            b"\xff",
        ] {
            assert_eq!(parse_complete(bad).unwrap_err().code(), "invalid-part-list", "{}", String::from_utf8_lossy(bad));
        }
    }
}
