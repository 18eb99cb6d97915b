//! Stored records (feed's videos, auth's users) turned into index documents. Pure.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::{public_user, Doc};
use crate::params::Kind;

/// The fields of feed's video record that search uses.
#[derive(Deserialize)]
struct VideoRecord {
    id: u64,
    author: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    cover_key: Option<String>,
    version: u64,
}

/// The fields of auth's user record that search uses.
#[derive(Deserialize)]
struct UserRecord {
    id: String,
    username: String,
    display_name: String,
    #[serde(default)]
    banned: bool,
    created_at: u64,
    #[serde(default)]
    version: u64,
}

/// The document of a video record (feed's JSON); `author_name` looks up the author's username
/// by user id.
///
/// The creation time comes from the id, as feed serves it; the item is the record as feed
/// shows it (with `cover_url`, stable so the index never holds an expired link) plus
/// `author_name`.
pub(crate) fn video_doc(json: &str, author_name: impl FnOnce(&str) -> Option<String>) -> Result<Doc, String> {
    let invalid = |e: serde_json::Error| format!("video record is not valid: {e}");
    let mut item: Value = serde_json::from_str(json).map_err(invalid)?;
    let record = VideoRecord::deserialize(&item).map_err(invalid)?;
    let author_name = author_name(&record.author);
    let created_at = edge_protocol::ids::timestamp_ms(record.id);
    item["created_at"] = json!(created_at);
    if item["updated_at"].as_u64().unwrap_or(0) < created_at {
        item["updated_at"] = json!(created_at);
    }
    item["author_name"] = json!(author_name);
    item["cover_url"] = json!(edge_protocol::keys::cover_url(record.id, record.version, record.cover_key.as_deref()));
    Ok(Doc {
        kind: Kind::Video,
        id: record.id.to_string(),
        version: record.version,
        live: true,
        author: record.author,
        created_at,
        title: record.title,
        description: record.description,
        tags: record.tags.iter().map(|t| t.to_lowercase()).collect(),
        username: author_name.unwrap_or_default(),
        item,
    })
}

/// The username in a user record, for naming a video's author.
pub(crate) fn username(json: &str) -> Option<String> {
    serde_json::from_str::<UserRecord>(json).ok().map(|u| u.username)
}

/// The document of a user record (auth's JSON); suspended users become tombstones. Records
/// from before users had versions count as version `fallback_version`.
pub(crate) fn user_doc(json: &str, fallback_version: u64) -> Result<Doc, String> {
    let record: UserRecord = serde_json::from_str(json).map_err(|e| format!("user record is not valid: {e}"))?;
    let version = if record.version == 0 { fallback_version } else { record.version };
    if record.banned {
        return Ok(Doc::tombstone(Kind::User, &record.id, version));
    }
    Ok(Doc {
        kind: Kind::User,
        item: public_user(&record.id, &record.username, &record.display_name, record.created_at),
        author: record.id.clone(),
        id: record.id,
        version,
        live: true,
        created_at: record.created_at,
        title: record.display_name,
        description: String::new(),
        tags: Vec::new(),
        username: record.username,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn videos_take_creation_time_from_the_id_and_carry_the_author_name() {
        let id = (5000u64 << edge_protocol::ids::SEQ_BITS) | 3;
        let json = format!(
            r#"{{"id":{id},"author":"u1","title":"Rust 教程","description":"d","tags":["Rust","Web"],"cover_key":null,"object_key":"k","size":1,"content_type":"video/mp4","sha256":null,"created_at":0,"updated_at":0,"version":3}}"#
        );
        let doc = video_doc(&json, |author| (author == "u1").then(|| "ann".to_owned())).unwrap();
        assert_eq!(doc.key(), format!("video:{id}"));
        assert_eq!((doc.version, doc.created_at), (3, edge_protocol::ids::FEED_EPOCH_MS + 5000));
        assert_eq!(doc.tags, vec!["rust", "web"]);
        assert_eq!(doc.item["author_name"], "ann");
        assert_eq!(doc.item["created_at"], doc.created_at);
        assert_eq!(doc.item["object_key"], "k");
        assert_eq!(doc.item["cover_url"], Value::Null, "no cover");
        let covered = json.replace(r#""cover_key":null"#, r#""cover_key":"covers/u1/c.jpg""#);
        assert_eq!(video_doc(&covered, |_| None).unwrap().item["cover_url"], format!("/videos/{id}/cover?v=3"));
        assert!(video_doc("{", |_| None).is_err());
        assert!(video_doc(r#"{"id":1}"#, |_| None).is_err());
    }

    #[test]
    fn users_show_public_fields_and_suspended_users_are_tombstones() {
        let json = r#"{"id":"u1","username":"ann","display_name":"Ann 安","password_hash":"x","roles":["admin"],"banned":false,"created_at":7,"version":2}"#;
        let doc = user_doc(json, 1).unwrap();
        assert!(doc.live);
        assert_eq!(doc.version, 2);
        assert_eq!(doc.item, json!({"id":"u1","username":"ann","display_name":"Ann 安","created_at":7}));
        let banned = json.replace(r#""banned":false"#, r#""banned":true"#);
        assert!(!user_doc(&banned, 1).unwrap().live);
        let old = r#"{"id":"u1","username":"ann","display_name":"Ann","password_hash":"x","created_at":7}"#;
        assert_eq!(user_doc(old, 9).unwrap().version, 9);
        assert_eq!(username(json).as_deref(), Some("ann"));
    }
}
