//! Object storage: files kept by key for this plugin instance (ONES's
//! `storage.object`), in the same database as its entity storage.
//!
//! A browser moves the bytes itself: [`upload`] and [`download`] hand out
//! short-lived signed addresses (`web_url` for the browser, `url` for the
//! plugin's own [`OPFetch`](crate::OPFetch) calls). The plugin may also
//! [`put`] and [`get`] the bytes directly.
//!
//! ```no_run
//! use op_plugin_sdk::{json, objects, PluginError, PluginRequest, PluginResponse};
//!
//! fn cover_upload(_req: PluginRequest) -> Result<PluginResponse, PluginError> {
//!     let address = objects::upload("cover")?;
//!     Ok(PluginResponse::json(&json!({
//!         "url": address.web_url,
//!         "fields": address.fields,
//!     })))
//! }
//! ```
//!
//! Limits (the host's and the mock's): keys of 1 to 255 bytes, objects of
//! at most 10 MiB, 256 MiB per instance, addresses honoured for 10 minutes
//! (docs/storage.md).

pub use op_storage_rules::StorageError;
pub use op_storage_rules::objects::{
    MAX_INSTANCE_BYTES, MAX_OBJECT_BYTES, SignedUrl, StoredObject as Object, URL_LIFETIME_SECS,
};

/// An address that accepts one upload under `key`: a `multipart/form-data`
/// POST of [`fields`](SignedUrl::fields) and a `file` part, or a PUT of the
/// bytes; it answers 201.
pub fn upload(key: &str) -> Result<SignedUrl, StorageError> {
    backend::upload(key)
}

/// An address that answers the object under `key` (404 when there is none).
pub fn download(key: &str) -> Result<SignedUrl, StorageError> {
    backend::download(key)
}

/// Stores `body` under `key` with its media type (empty for
/// `application/octet-stream`), replacing what was there.
pub fn put(key: &str, content_type: &str, body: &[u8]) -> Result<(), StorageError> {
    backend::put(key, content_type, body)
}

/// The object under `key`, if there is one.
pub fn get(key: &str) -> Result<Option<Object>, StorageError> {
    backend::get(key)
}

/// Deletes the object under `key`; whether there was one.
pub fn delete(key: &str) -> Result<bool, StorageError> {
    backend::delete(key)
}

#[cfg(target_arch = "wasm32")]
mod backend {
    //! The host's `op:plugin/objects` import.

    use super::{Object, SignedUrl, StorageError};
    use crate::__private::bindings::op::plugin::objects as wit;
    use crate::__private::bindings::op::plugin::storage::StorageError as WitError;

    fn error(err: WitError) -> StorageError {
        match err {
            WitError::Undeclared(m) => StorageError::Undeclared(m),
            WitError::Invalid(m) => StorageError::Invalid(m),
            WitError::TooLarge(m) => StorageError::TooLarge(m),
            WitError::Unavailable(m) => StorageError::Unavailable(m),
        }
    }

    fn url(signed: wit::SignedUrl) -> SignedUrl {
        SignedUrl {
            url: signed.url,
            web_url: signed.web_url,
            fields: signed.fields,
            expires_at: signed.expires_at,
        }
    }

    pub fn upload(key: &str) -> Result<SignedUrl, StorageError> {
        wit::upload(key).map(url).map_err(error)
    }

    pub fn download(key: &str) -> Result<SignedUrl, StorageError> {
        wit::download(key).map(url).map_err(error)
    }

    pub fn put(key: &str, content_type: &str, body: &[u8]) -> Result<(), StorageError> {
        wit::put(key, content_type, body).map_err(error)
    }

    pub fn get(key: &str) -> Result<Option<Object>, StorageError> {
        let object = wit::get(key).map_err(error)?;
        Ok(object.map(|o| Object {
            content_type: o.content_type,
            body: o.body,
        }))
    }

    pub fn delete(key: &str) -> Result<bool, StorageError> {
        wit::delete(key).map_err(error)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod backend {
    //! The [`MockHost`](crate::testing::MockHost)'s objects. Its addresses
    //! have the host's shape with a token that only names what they grant.

    use super::{Object, SignedUrl, StorageError, URL_LIFETIME_SECS};
    use crate::testing::with_objects;

    fn address(access: &str, key: &str) -> Result<SignedUrl, StorageError> {
        op_storage_rules::objects::check_object_key(key)?;
        let token: String = format!("mock-{access}-{key}")
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expires_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            + URL_LIFETIME_SECS;
        let fields = if access == "put" {
            vec![("key".to_string(), key.to_string())]
        } else {
            Vec::new()
        };
        Ok(SignedUrl {
            url: format!("/op/objects/{token}"),
            web_url: format!("/project/api/project/op/objects/{token}"),
            fields,
            expires_at,
        })
    }

    pub fn upload(key: &str) -> Result<SignedUrl, StorageError> {
        with_objects(|_| address("put", key))
    }

    pub fn download(key: &str) -> Result<SignedUrl, StorageError> {
        with_objects(|_| address("get", key))
    }

    pub fn put(key: &str, content_type: &str, body: &[u8]) -> Result<(), StorageError> {
        with_objects(|objects| objects.put(key, content_type, body))
    }

    pub fn get(key: &str) -> Result<Option<Object>, StorageError> {
        with_objects(|objects| objects.get(key))
    }

    pub fn delete(key: &str) -> Result<bool, StorageError> {
        with_objects(|objects| objects.delete(key))
    }
}
