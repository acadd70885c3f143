//! `op:plugin/objects`: the object storage of the plugin's instance, kept
//! with its entity storage (docs/storage.md). Each call is one host call;
//! the database work is async and bounded by the call's time limit.

use super::HostState;
use super::storage::wit;
use crate::bindings::op::plugin::objects::{Host, Object, SignedUrl};
use crate::bindings::op::plugin::storage::StorageError as WitError;
use crate::storage::signed_urls::{self, Access};

fn url(signed: signed_urls::SignedUrl) -> SignedUrl {
    SignedUrl {
        url: signed.url,
        web_url: signed.web_url,
        fields: signed.fields,
        expires_at: signed.expires_at,
    }
}

impl Host for HostState {
    async fn upload(&mut self, key: String) -> Result<SignedUrl, WitError> {
        let storage = self.storage()?;
        let signed = storage.sign_url(Access::Upload, &key).await.map_err(wit)?;
        Ok(url(signed))
    }

    async fn download(&mut self, key: String) -> Result<SignedUrl, WitError> {
        let storage = self.storage()?;
        let signed = storage
            .sign_url(Access::Download, &key)
            .await
            .map_err(wit)?;
        Ok(url(signed))
    }

    async fn put(
        &mut self,
        key: String,
        content_type: String,
        body: Vec<u8>,
    ) -> Result<(), WitError> {
        let storage = self.storage()?;
        storage
            .put_object(&key, &content_type, &body)
            .await
            .map_err(wit)
    }

    async fn get(&mut self, key: String) -> Result<Option<Object>, WitError> {
        let storage = self.storage()?;
        let object = storage.get_object(&key).await.map_err(wit)?;
        Ok(object.map(|o| Object {
            content_type: o.content_type,
            body: o.body,
        }))
    }

    async fn delete(&mut self, key: String) -> Result<bool, WitError> {
        let storage = self.storage()?;
        storage.delete_object(&key).await.map_err(wit)
    }
}
