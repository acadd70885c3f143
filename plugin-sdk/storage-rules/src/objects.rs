//! Object storage: files kept by key for one plugin instance (ONES's
//! `storage.object`). The limits here hold in the host and in the SDKs'
//! test mocks alike.

use std::collections::BTreeMap;

use crate::StorageError;
use crate::value::check_key;

/// The most bytes one object may hold (10 MiB).
pub const MAX_OBJECT_BYTES: usize = 10 * 1024 * 1024;
/// The most bytes all objects of one instance may hold together (256 MiB).
pub const MAX_INSTANCE_BYTES: u64 = 256 * 1024 * 1024;
/// How long a signed upload or download address is honoured, in seconds.
pub const URL_LIFETIME_SECS: u64 = 600;
/// The longest content type kept with an object.
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;
/// The content type of an object stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A signed address of one object, as the plugin receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    /// For the plugin: a path relative to the ONES API base, answered by
    /// the host when the plugin fetches it.
    pub url: String,
    /// For a browser: a path on the ONES site, answered by op's gateway.
    pub web_url: String,
    /// Form fields an upload sends unchanged beside the `file` part.
    pub fields: Vec<(String, String)>,
    /// When it stops being honoured, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its media type, as given when it was stored.
    pub content_type: String,
    /// Its bytes.
    pub body: Vec<u8>,
}

/// Checks an object's key (the rules of a record's key: 1 to 255 bytes, no
/// control characters).
pub fn check_object_key(key: &str) -> Result<(), StorageError> {
    check_key(key)
}

/// The content type to keep: the given one, trimmed, or
/// [`DEFAULT_CONTENT_TYPE`] when it is empty; refused when it is too long or
/// holds characters a header cannot.
pub fn content_type(given: &str) -> Result<String, StorageError> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(DEFAULT_CONTENT_TYPE.to_string());
    }
    if given.len() > MAX_CONTENT_TYPE_BYTES {
        return Err(StorageError::TooLarge(format!(
            "a content type holds at most {MAX_CONTENT_TYPE_BYTES} bytes; this one has {}",
            given.len()
        )));
    }
    if !given.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(StorageError::Invalid(
            "a content type holds printable ASCII only".into(),
        ));
    }
    Ok(given.to_string())
}

/// Checks the size of one object.
pub fn check_object_size(size: usize) -> Result<(), StorageError> {
    if size > MAX_OBJECT_BYTES {
        return Err(StorageError::TooLarge(format!(
            "an object holds at most {MAX_OBJECT_BYTES} bytes; this one has {size}"
        )));
    }
    Ok(())
}

/// Checks that an instance holding `others` bytes in its other objects may
/// store one of `size` bytes.
pub fn check_instance_total(others: u64, size: usize) -> Result<(), StorageError> {
    let total = others.saturating_add(size as u64);
    if total > MAX_INSTANCE_BYTES {
        return Err(StorageError::TooLarge(format!(
            "the objects of one plugin instance hold at most {MAX_INSTANCE_BYTES} bytes \
             together; storing this one would make {total}"
        )));
    }
    Ok(())
}

/// Objects in memory under the same rules, for unit tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryObjects {
    objects: BTreeMap<String, StoredObject>,
}

impl MemoryObjects {
    /// Stores `body` under `key`, replacing what was there.
    pub fn put(&mut self, key: &str, content_type: &str, body: &[u8]) -> Result<(), StorageError> {
        check_object_key(key)?;
        let content_type = self::content_type(content_type)?;
        check_object_size(body.len())?;
        let others: u64 = self
            .objects
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(_, o)| o.body.len() as u64)
            .sum();
        check_instance_total(others, body.len())?;
        self.objects.insert(
            key.to_string(),
            StoredObject {
                content_type,
                body: body.to_vec(),
            },
        );
        Ok(())
    }

    /// The object under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<StoredObject>, StorageError> {
        check_object_key(key)?;
        Ok(self.objects.get(key).cloned())
    }

    /// Deletes the object under `key`; whether there was one.
    pub fn delete(&mut self, key: &str) -> Result<bool, StorageError> {
        check_object_key(key)?;
        Ok(self.objects.remove(key).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_hold_on_both_sides() {
        let mut objects = MemoryObjects::default();
        objects.put("cover", "", b"png").unwrap();
        let stored = objects.get("cover").unwrap().unwrap();
        assert_eq!(stored.content_type, DEFAULT_CONTENT_TYPE);
        assert_eq!(stored.body, b"png");
        assert!(objects.put("", "text/plain", b"x").is_err());
        let big = vec![0u8; MAX_OBJECT_BYTES + 1];
        let err = objects.put("big", "", &big).unwrap_err();
        assert!(err.to_string().contains("at most 10485760 bytes"), "{err}");
        objects.put("edge", "", &big[..MAX_OBJECT_BYTES]).unwrap();
        assert!(content_type("text/pl\nain").is_err());
        assert!(objects.delete("cover").unwrap());
        assert!(!objects.delete("cover").unwrap());
        assert_eq!(check_instance_total(MAX_INSTANCE_BYTES - 3, 3), Ok(()));
        assert!(check_instance_total(MAX_INSTANCE_BYTES - 3, 4).is_err());
    }
}
