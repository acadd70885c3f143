//! Signed object addresses: who holds one may upload, or download, one
//! object of one instance until it expires, and nothing else.
//!
//! An address ends in a token `CLAIMS.SIGNATURE`: the claims (access,
//! instance, key, expiry) as URL-safe base64 of JSON, and an HMAC-SHA256 of
//! them under a secret the database keeps ([`super::Records::url_secret`]),
//! so every replica on one database honours the addresses of the others.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

pub use op_storage_rules::objects::SignedUrl;

/// Where a plugin finds an object address: relative to the ONES API base
/// (what `OPFetch` takes), answered by the host itself.
pub const API_PREFIX: &str = "/op/objects/";
/// Where a browser finds it: the same address as a path on the ONES site,
/// which op's gateway serves.
pub const WEB_PREFIX: &str = "/project/api/project/op/objects/";
/// The form field an upload carries the key in.
pub const KEY_FIELD: &str = "key";

/// What an address lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// Store the object (POST of a form, or PUT of the bytes).
    #[serde(rename = "put")]
    Upload,
    /// Read the object (GET or HEAD).
    #[serde(rename = "get")]
    Download,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    #[serde(rename = "a")]
    access: Access,
    #[serde(rename = "i")]
    instance: String,
    #[serde(rename = "k")]
    key: String,
    #[serde(rename = "e")]
    expires_at: u64,
}

/// Why an address is not honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// It is not an address op handed out.
    #[error("this is not an object address op handed out")]
    Malformed,
    /// Its signature does not match its claims.
    #[error("this object address is not validly signed")]
    BadSignature,
    /// Its time is up.
    #[error("this object address expired; ask the plugin for a new one")]
    Expired,
}

/// A token read from an address, not yet checked.
#[derive(Debug, Clone)]
pub struct Token {
    claims_text: String,
    signature: Vec<u8>,
    claims: Claims,
}

/// What a checked token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Upload or download.
    pub access: Access,
    /// The instance whose object it is.
    pub instance: String,
    /// The object's key.
    pub key: String,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Token {
    /// Reads `text` (the address's last segment).
    pub fn parse(text: &str) -> Result<Token, Refused> {
        let (claims_text, signature) = text.split_once('.').ok_or(Refused::Malformed)?;
        let claims_json = URL_SAFE_NO_PAD
            .decode(claims_text)
            .map_err(|_| Refused::Malformed)?;
        let claims: Claims =
            serde_json::from_slice(&claims_json).map_err(|_| Refused::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Refused::Malformed)?;
        Ok(Token {
            claims_text: claims_text.to_string(),
            signature,
            claims,
        })
    }

    /// The instance it claims to be for (to find the storage to check it
    /// with).
    pub fn instance(&self) -> &str {
        &self.claims.instance
    }

    /// Checks the signature under `secret` and the expiry against `now`
    /// (seconds since the Unix epoch).
    pub fn check(self, secret: &[u8], now: u64) -> Result<Grant, Refused> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        hmac::verify(&key, self.claims_text.as_bytes(), &self.signature)
            .map_err(|_| Refused::BadSignature)?;
        if now > self.claims.expires_at {
            return Err(Refused::Expired);
        }
        Ok(Grant {
            access: self.claims.access,
            instance: self.claims.instance,
            key: self.claims.key,
            expires_at: self.claims.expires_at,
        })
    }
}

/// The token granting `access` to `key` of `instance` until `expires_at`.
pub fn sign(secret: &[u8], access: Access, instance: &str, key: &str, expires_at: u64) -> String {
    let claims = Claims {
        access,
        instance: instance.to_string(),
        key: key.to_string(),
        expires_at,
    };
    let json = serde_json::to_vec(&claims).unwrap_or_default();
    let claims_text = URL_SAFE_NO_PAD.encode(json);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let signature = hmac::sign(&key, claims_text.as_bytes());
    format!(
        "{claims_text}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

/// The address (both forms) of a token, with the upload's form fields.
pub fn signed_url(token: &str, access: Access, key: &str, expires_at: u64) -> SignedUrl {
    let fields = match access {
        Access::Upload => vec![(KEY_FIELD.to_string(), key.to_string())],
        Access::Download => Vec::new(),
    };
    SignedUrl {
        url: format!("{API_PREFIX}{token}"),
        web_url: format!("{WEB_PREFIX}{token}"),
        fields,
        expires_at,
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_token_grants_what_it_says_until_it_expires() {
        let token = sign(SECRET, Access::Upload, "inst-1", "covers/a b.png", 1_000);
        assert!(!token.contains('/') && !token.contains('+') && !token.contains('='));
        let parsed = Token::parse(&token).unwrap();
        assert_eq!(parsed.instance(), "inst-1");
        let grant = parsed.clone().check(SECRET, 1_000).unwrap();
        assert_eq!(grant.access, Access::Upload);
        assert_eq!(grant.key, "covers/a b.png");
        assert_eq!(parsed.check(SECRET, 1_001), Err(Refused::Expired));
    }

    #[test]
    fn a_changed_token_or_another_secret_is_refused() {
        let token = sign(SECRET, Access::Download, "inst-1", "k", 1_000);
        let other = Token::parse(&token).unwrap();
        assert_eq!(
            other.check(b"another secret", 10),
            Err(Refused::BadSignature)
        );
        // The claims of another instance under the original signature.
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"a":"get","i":"inst-2","k":"k","e":1000}"#);
        let signature = token.split_once('.').unwrap().1;
        let forged = Token::parse(&format!("{forged_claims}.{signature}")).unwrap();
        assert_eq!(forged.check(SECRET, 10), Err(Refused::BadSignature));
        for bad in ["", "abc", "a.b", "e30.AAAA"] {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_have_both_forms_and_upload_fields() {
        let url = signed_url("T.S", Access::Upload, "cover", 5);
        assert_eq!(url.url, "/op/objects/T.S");
        assert_eq!(url.web_url, "/project/api/project/op/objects/T.S");
        assert_eq!(url.fields, vec![("key".to_string(), "cover".to_string())]);
        assert!(
            signed_url("T.S", Access::Download, "cover", 5)
                .fields
                .is_empty()
        );
    }
}
