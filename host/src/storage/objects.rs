//! One instance's objects: stored by key in the same database as its
//! records, handed out as signed addresses ([`super::signed_urls`]).

use op_storage_rules::objects::{
    URL_LIFETIME_SECS, check_object_key, check_object_size, content_type,
};

use super::signed_urls::{self, Access, Grant, Refused, SignedUrl, Token};
use super::{InstanceStorage, StorageError, StoredObject};

/// Why a signed address was not honoured.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The token itself is refused.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// It is for another instance than this storage's.
    #[error("this object address is for another plugin instance")]
    OtherInstance,
    /// The secret could not be read.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl InstanceStorage {
    /// The instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// An address granting `access` to the object under `key`, honoured for
    /// [`URL_LIFETIME_SECS`].
    pub async fn sign_url(&self, access: Access, key: &str) -> Result<SignedUrl, StorageError> {
        check_object_key(key)?;
        let secret = self.records.url_secret().await?;
        let expires_at = signed_urls::now() + URL_LIFETIME_SECS;
        let token = signed_urls::sign(&secret, access, &self.instance, key, expires_at);
        Ok(signed_urls::signed_url(&token, access, key, expires_at))
    }

    /// What `token` grants on this instance's objects.
    pub async fn grant(&self, token: Token) -> Result<Grant, GrantError> {
        if token.instance() != self.instance {
            return Err(GrantError::OtherInstance);
        }
        let secret = self.records.url_secret().await?;
        Ok(token.check(&secret, signed_urls::now())?)
    }

    /// Stores `body` under `key` (an empty content type keeps the
    /// default), replacing what was there.
    pub async fn put_object(
        &self,
        key: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<(), StorageError> {
        check_object_key(key)?;
        let media_type = content_type(media_type)?;
        check_object_size(body.len())?;
        self.records
            .put_object(&self.instance, key, &media_type, body)
            .await
    }

    /// The object under `key`, if any.
    pub async fn get_object(&self, key: &str) -> Result<Option<StoredObject>, StorageError> {
        check_object_key(key)?;
        self.records.get_object(&self.instance, key).await
    }

    /// Deletes the object under `key`; whether there was one.
    pub async fn delete_object(&self, key: &str) -> Result<bool, StorageError> {
        check_object_key(key)?;
        self.records.delete_object(&self.instance, key).await
    }
}
