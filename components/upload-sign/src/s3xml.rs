//! The S3 XML that `/uploads/s3/xml/...` speaks to Uppy's `signRequest` mode: the answers
//! Uppy parses (InitiateMultipartUploadResult, ListPartsResult, CompleteMultipartUploadResult)
//! and the CompleteMultipartUpload request it sends. Pure; Uppy's own parser reads only the
//! elements written here.

use edge_http::Problem;

const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Text escaped for an element's content, quotes included, as S3 writes ETags.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&apos;", "'").replace("&amp;", "&")
}

/// The answer to CreateMultipartUpload: our key and our upload id as `UploadId`.
pub(crate) fn initiated(key: &str, upload_id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="{NAMESPACE}"><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>"#,
        escape(key),
        escape(upload_id)
    )
}

/// The answer to ListParts: `(number, etag, size)` of each stored part.
pub(crate) fn parts(key: &str, upload_id: &str, parts: &[(u64, &str, u64)]) -> String {
    let listed: String = parts
        .iter()
        .map(|(number, etag, size)| {
            format!("<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag><Size>{size}</Size></Part>", escape(etag))
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="{NAMESPACE}"><Key>{}</Key><UploadId>{}</UploadId><IsTruncated>false</IsTruncated>{listed}</ListPartsResult>"#,
        escape(key),
        escape(upload_id)
    )
}

/// The answer to CompleteMultipartUpload (Uppy requires `Location` and `Key`).
pub(crate) fn completed(location: &str, key: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="{NAMESPACE}"><Location>{}</Location><Key>{}</Key></CompleteMultipartUploadResult>"#,
        escape(location),
        escape(key)
    )
}

/// The `(part number, ETag)` pairs of a CompleteMultipartUpload body, in order.
pub(crate) fn parse_complete(body: &[u8]) -> Result<Vec<(u64, String)>, Problem> {
    let invalid = |why: &str| Problem::bad_request("invalid-part-list", format!("CompleteMultipartUpload body: {why}"));
    let text = std::str::from_utf8(body).map_err(|_| invalid("not UTF-8"))?;
    let element = |part: &str, name: &str| -> Option<String> {
        let start = part.find(&format!("<{name}>"))? + name.len() + 2;
        let end = start + part[start..].find(&format!("</{name}>"))?;
        Some(unescape(part[start..end].trim()))
    };
    let parts: Vec<(u64, String)> = text
        .split("<Part>")
        .skip(1)
        .map(|part| {
            let number = element(part, "PartNumber").and_then(|n| n.parse().ok()).ok_or_else(|| invalid("a Part without a PartNumber"))?;
            let etag = element(part, "ETag").ok_or_else(|| invalid("a Part without an ETag"))?;
            Ok((number, etag))
        })
        .collect::<Result<_, Problem>>()?;
    if parts.is_empty() {
        return Err(invalid("no Part listed"));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_what_uppy_reads_escaped() {
        let created = initiated("uploads/u1/abc.mp4", "abc");
        assert!(created.contains("<Key>uploads/u1/abc.mp4</Key><UploadId>abc</UploadId>"), "{created}");
        let listed = parts("k", "abc", &[(1, "\"e1\"", 5), (2, "e2", 7)]);
        assert!(
            listed.contains(
                "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag><Size>5</Size></Part><Part><PartNumber>2</PartNumber>"
            ),
            "{listed}"
        );
        let done = completed("https://s3/b/k?X-Amz-Signature=1&a=2#receipt=r.s", "k");
        assert!(done.contains("<Location>https://s3/b/k?X-Amz-Signature=1&amp;a=2#receipt=r.s</Location><Key>k</Key>"), "{done}");
    }

    #[test]
    fn completion_bodies_parse_quoted_or_bare_etags() {
        let body = br#"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e-1"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>e-2</ETag></Part></CompleteMultipartUpload>"#;
        assert_eq!(parse_complete(body).unwrap(), [(1, "\"e-1\"".to_owned()), (2, "e-2".to_owned())]);
        let escaped =
            b"<CompleteMultipartUpload><Part><ETag>&quot;e&quot;</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>";
        assert_eq!(parse_complete(escaped).unwrap(), [(3, "\"e\"".to_owned())]);
        for bad in [
            &b"<CompleteMultipartUpload></CompleteMultipartUpload>"[..],
            b"<Part><ETag>e</ETag></Part>",
            b"<Part><PartNumber>x</PartNumber><ETag>e</ETag></Part>",
            b"\xff",
        ] {
            assert_eq!(parse_complete(bad).unwrap_err().code(), "invalid-part-list", "{}", String::from_utf8_lossy(bad));
        }
    }
}
