//! Requests to signed object addresses, from a browser through the
//! gateway or from the plugin through `OPFetch`: both come here, so both
//! get the same answers.
//!
//! An upload address takes a `multipart/form-data` POST (the form fields
//! the address came with, and the bytes in a part named `file`, as ONES's
//! form upload) or a PUT of the bytes, and answers 201 with
//! `{"key", "size"}`. A download address answers GET and HEAD with the
//! object, its content type, and headers that keep a browser from running
//! what it holds on the ONES site.

use bytes::Bytes;
use op_storage_rules::objects::MAX_OBJECT_BYTES;
use serde_json::json;

use super::objects::GrantError;
use super::signed_urls::{Access, Grant, KEY_FIELD, Token, now};
use super::{InstanceStorage, StorageError};

/// The most bytes a request to an object address may carry: one object
/// and room for a form around it.
pub const MAX_REQUEST_BYTES: usize = MAX_OBJECT_BYTES + 64 * 1024;

/// The answer to a request to an object address.
#[derive(Debug, Clone)]
pub struct ObjectReply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(&'static str, String)>,
    /// Response body.
    pub body: Bytes,
}

impl ObjectReply {
    /// A failure, in the JSON shape of op's other errors.
    pub fn failure(status: u16, kind: &str, reason: &str) -> Self {
        let body = json!({ "model": format!("objects.{kind}"), "reason": reason, "type": "error" });
        ObjectReply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: Bytes::from(body.to_string()),
        }
    }

    fn storage(err: StorageError) -> Self {
        let (status, kind) = match &err {
            StorageError::TooLarge(_) => (413, "too_large"),
            StorageError::Unavailable(_) => (503, "unavailable"),
            StorageError::Invalid(_) | StorageError::Undeclared(_) => (400, "invalid"),
        };
        Self::failure(status, kind, &err.to_string())
    }
}

/// What a request to an object address carries.
#[derive(Debug)]
pub struct ObjectRequest<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// Its `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// Its body (at most [`MAX_REQUEST_BYTES`]; the caller cuts it).
    pub body: Bytes,
}

/// The token of a request, when it can be read; the caller finds the
/// storage of its instance.
pub fn token(text: &str) -> Result<Token, ObjectReply> {
    Token::parse(text).map_err(|err| ObjectReply::failure(403, "refused", &err.to_string()))
}

/// Answers `request` on `storage`, the storage of the token's instance
/// (`None` when no such instance is served here).
pub async fn answer(
    storage: Option<&InstanceStorage>,
    token: Token,
    request: ObjectRequest<'_>,
) -> ObjectReply {
    let Some(storage) = storage else {
        return ObjectReply::failure(
            404,
            "not_found",
            "the plugin instance of this object address is not served here",
        );
    };
    let grant = match storage.grant(token).await {
        Ok(grant) => grant,
        Err(GrantError::Storage(err)) => return ObjectReply::storage(err),
        Err(err) => return ObjectReply::failure(403, "refused", &err.to_string()),
    };
    match (grant.access, request.method) {
        (Access::Upload, "POST") => match form_file(&grant, &request).await {
            Ok((media_type, body)) => store(storage, &grant, &media_type, body).await,
            Err(reply) => reply,
        },
        (Access::Upload, "PUT") => {
            let media_type = request.content_type.unwrap_or_default().to_string();
            store(storage, &grant, &media_type, request.body).await
        }
        (Access::Download, "GET" | "HEAD") => {
            download(storage, &grant, request.method == "HEAD").await
        }
        (access, method) => {
            let allowed = match access {
                Access::Upload => "POST, PUT",
                Access::Download => "GET, HEAD",
            };
            let mut reply = ObjectReply::failure(
                405,
                "method_not_allowed",
                &format!("this object address takes {allowed}, not {method}"),
            );
            reply.headers.push(("allow", allowed.to_string()));
            reply
        }
    }
}

async fn store(
    storage: &InstanceStorage,
    grant: &Grant,
    media_type: &str,
    body: Bytes,
) -> ObjectReply {
    if let Err(err) = storage.put_object(&grant.key, media_type, &body).await {
        return ObjectReply::storage(err);
    }
    let answer = json!({ "key": grant.key, "size": body.len() });
    ObjectReply {
        status: 201,
        headers: vec![("content-type", "application/json".into())],
        body: Bytes::from(answer.to_string()),
    }
}

async fn download(storage: &InstanceStorage, grant: &Grant, head: bool) -> ObjectReply {
    let object = match storage.get_object(&grant.key).await {
        Ok(Some(object)) => object,
        Ok(None) => {
            return ObjectReply::failure(
                404,
                "not_found",
                &format!("there is no object under the key `{}`", grant.key),
            );
        }
        Err(err) => return ObjectReply::storage(err),
    };
    let max_age = grant.expires_at.saturating_sub(now());
    let headers = vec![
        ("content-type", object.content_type),
        ("content-length", object.body.len().to_string()),
        ("cache-control", format!("private, max-age={max_age}")),
        ("x-content-type-options", "nosniff".into()),
        // What it holds is the plugin's users' data: a browser shows it,
        // but runs nothing of it with the ONES site's rights.
        (
            "content-security-policy",
            "default-src 'none'; sandbox".into(),
        ),
    ];
    ObjectReply {
        status: 200,
        headers,
        body: if head {
            Bytes::new()
        } else {
            Bytes::from(object.body)
        },
    }
}

/// A form that could not be read: too large, or malformed.
fn unreadable(err: multer::Error) -> ObjectReply {
    match err {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            ObjectReply::failure(
                413,
                "too_large",
                &format!("an object holds at most {MAX_OBJECT_BYTES} bytes"),
            )
        }
        err => ObjectReply::failure(
            400,
            "invalid",
            &format!("the upload form cannot be read: {err}"),
        ),
    }
}

/// The file part of an upload form (its content type and bytes), after
/// checking that the form's key field, if sent, is the address's key.
async fn form_file(
    grant: &Grant,
    request: &ObjectRequest<'_>,
) -> Result<(String, Bytes), ObjectReply> {
    let invalid = |reason: String| ObjectReply::failure(400, "invalid", &reason);
    let boundary = request
        .content_type
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            invalid(
                "an upload POST is a multipart/form-data form with the file in a part named \
                 `file` (or PUT the bytes)"
                    .into(),
            )
        })?;
    let body = request.body.clone();
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(MAX_REQUEST_BYTES as u64)
            .per_field(MAX_OBJECT_BYTES as u64),
    );
    let mut form = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut file = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return Err(unreadable(err)),
        };
        let name = field.name().unwrap_or_default().to_string();
        let media_type = field
            .content_type()
            .map(ToString::to_string)
            .unwrap_or_default();
        let is_file = name == "file";
        let bytes = field.bytes().await.map_err(unreadable)?;
        if is_file {
            file = Some((media_type, bytes));
        } else if name == KEY_FIELD && bytes.as_ref() != grant.key.as_bytes() {
            return Err(ObjectReply::failure(
                403,
                "refused",
                "the form's `key` field is not the key this address was signed for",
            ));
        }
    }
    file.ok_or_else(|| invalid("the upload form has no part named `file`".into()))
}
