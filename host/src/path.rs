//! The one form of a request path: what is matched is what is forwarded.
//!
//! The gateway normalises every request path once, at the entrance, and
//! both matches (routes, hooks) and forwards (to ONES) that form only. The
//! rules, documented in `docs/runtime.md`:
//!
//! - percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
//!   decoded (`%2e` is `.`, `%61` is `a`), other escapes get upper-case hex
//!   digits, and characters a URL parser would escape (non-ASCII bytes, `"`,
//!   `{`, `}`) are escaped (RFC 3986 §6.2.2);
//! - repeated slashes are one, and a trailing slash is dropped;
//! - dot-segments are removed (RFC 3986 §5.2.4);
//! - refused (400): a `%` not followed by two hex digits, an escaped `/`,
//!   `\` or NUL (`%2F`, `%5C`, `%00`), a raw `\` (URL parsers read it as
//!   `/`) or `;` (servers such as Tomcat strip `;` parameters), a `..` above
//!   the root, and a path whose dot-segments take it out of the API base.
//!
//! A path already in that form (the common case) is not copied.

use std::borrow::Cow;

use crate::manifest::ApiScope;

/// Why a request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A `%` not followed by two hex digits.
    #[error("the request path has a `%` that is not followed by two hex digits")]
    BadEscape,
    /// `%2F`, `%5C` or `%00`: a separator or NUL hidden in a segment.
    #[error("the request path has an escaped `/`, `\\` or NUL (`%2F`, `%5C`, `%00`)")]
    EscapedSeparator,
    /// A raw `\` or `;`.
    #[error("the request path has a `{0}`, which op does not accept in paths")]
    Refused(char),
    /// Dot-segments take the path above the root or out of the API base.
    #[error("the request path leaves the API base")]
    LeavesBase,
}

/// A request path under an API base, in its one form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath<'a> {
    path: Cow<'a, str>,
    scope: ApiScope,
}

impl ApiPath<'_> {
    /// The whole path, e.g. `/project/api/project/team/T1/tasks/add2`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The API base it is under.
    pub fn scope(&self) -> ApiScope {
        self.scope
    }

    /// The path below the API base, starting with `/` (`/team/T1/tasks/add2`).
    pub fn relative(&self) -> &str {
        &self.path[self.scope.base().len()..]
    }

    /// Whether normalising changed the path (it was copied).
    pub fn changed(&self) -> bool {
        matches!(self.path, Cow::Owned(_))
    }
}

/// The one form of `path` (a request path as [`http::Uri::path`] gives it),
/// and whether it had dot-segments.
pub fn normalize(path: &str) -> Result<(Cow<'_, str>, bool), PathError> {
    if !path.starts_with('/') {
        // `*` or an authority: no API path, nothing to normalise.
        return Ok((Cow::Borrowed(path), false));
    }
    if is_normal(path) {
        return Ok((Cow::Borrowed(path), false));
    }
    let mut out = String::with_capacity(path.len());
    let mut dots = false;
    let mut segment = String::new();
    for raw in path[1..].split('/') {
        segment.clear();
        canonical_segment(raw, &mut segment)?;
        match segment.as_str() {
            "" => {}
            "." => dots = true,
            ".." => {
                dots = true;
                match out.rfind('/') {
                    Some(start) => out.truncate(start),
                    None => return Err(PathError::LeavesBase),
                }
            }
            _ => {
                out.push('/');
                out.push_str(&segment);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok((Cow::Owned(out), dots))
}

/// The one form of `path` when it is under an API base: `Ok(None)` for a
/// path that is not (the gateway does not proxy it), an error for a path
/// that cannot be normalised or whose dot-segments leave the API base.
/// The base itself (`/project/api/project/`) is not under it.
pub fn api_path(path: &str) -> Result<Option<ApiPath<'_>>, PathError> {
    let (path, dots) = normalize(path)?;
    let scope = [ApiScope::Project, ApiScope::Wiki]
        .into_iter()
        .find(|scope| {
            path.strip_prefix(scope.base())
                .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
        });
    match scope {
        Some(scope) => Ok(Some(ApiPath { path, scope })),
        None if dots => Err(PathError::LeavesBase),
        None => Ok(None),
    }
}

/// Whether `path` is already in the one form, checked without copying.
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.len() > 1 && bytes[bytes.len() - 1] == b'/' {
        return false;
    }
    if bytes
        .iter()
        .any(|&b| matches!(b, b'%' | b'\\' | b';' | b'"' | b'{' | b'}') || b >= 0x80)
    {
        return false;
    }
    path.len() == 1
        || path[1..]
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
}

/// Appends the canonical form of one raw segment to `out`.
fn canonical_segment(raw: &str, out: &mut String) -> Result<(), PathError> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (Some(high), Some(low)) = (
                    bytes.get(i + 1).and_then(|&h| hex(h)),
                    bytes.get(i + 2).and_then(|&l| hex(l)),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let decoded = high << 4 | low;
                if matches!(decoded, b'/' | b'\\' | 0) {
                    return Err(PathError::EscapedSeparator);
                }
                if is_unreserved(decoded) {
                    out.push(char::from(decoded));
                } else {
                    escape(decoded, out);
                }
                i += 3;
                continue;
            }
            b'\\' => return Err(PathError::Refused('\\')),
            b';' => return Err(PathError::Refused(';')),
            b'"' | b'{' | b'}' | 0x80..=0xFF => escape(b, out),
            _ => out.push(char::from(b)),
        }
        i += 1;
    }
    Ok(())
}

fn escape(byte: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xF)]));
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "/project/api/project/team/T1/tasks/add2";

    fn one_form(path: &str) -> Result<Option<String>, PathError> {
        api_path(path).map(|found| found.map(|p| p.path().to_string()))
    }

    #[test]
    fn every_spelling_of_an_api_has_one_form() {
        for spelling in [
            T,
            "/project/api/project/team/T1/tasks/add2/",
            "/project/api/project/team/T1//tasks/add2",
            "/project/api/project/team/T1/./tasks/add2",
            "/project/api/project/team/T1/tasks/x/../add2",
            "/project/api/project//team/T1/tasks/add2",
            "//project/api/project/team/T1/tasks/add2",
            "/project/api/project/team/T1/tasks/%61dd2",
            "/project/api/project/team/T1/tasks/x/%2e%2E/add2",
            "/project/api/project/team/T1/tasks/x/.%2e/add2",
            "/project/api/project/team/T1/tasks/x/%2e./add2",
            "/x/../project/api/project/team/T1/tasks/add2",
        ] {
            assert_eq!(one_form(spelling), Ok(Some(T.to_string())), "{spelling}");
        }
    }

    #[test]
    fn a_path_in_its_form_is_not_copied() {
        assert!(!api_path(T).unwrap().unwrap().changed());
        assert_eq!(
            api_path(T).unwrap().unwrap().relative(),
            "/team/T1/tasks/add2"
        );
        assert_eq!(
            api_path("/wiki/api/wiki/page/P1").unwrap().unwrap().scope(),
            ApiScope::Wiki
        );
    }

    #[test]
    fn leaving_the_base_and_hidden_separators_are_refused() {
        for (path, err) in [
            ("/project/api/project/../../admin/x", PathError::LeavesBase),
            ("/project/api/project/%2e%2e/x", PathError::LeavesBase),
            ("/wiki/api/wiki/.%2e/.%2e/x", PathError::LeavesBase),
            ("/../project/api/project/x", PathError::LeavesBase),
            ("/project/api/project/x/..", PathError::LeavesBase),
            ("/project/api/project/a%2Fb", PathError::EscapedSeparator),
            ("/project/api/project/a%5cb", PathError::EscapedSeparator),
            ("/project/api/project/a%00", PathError::EscapedSeparator),
            ("/project/api/project/a%zz", PathError::BadEscape),
            ("/project/api/project/a%4", PathError::BadEscape),
            ("/project/api/project/a\\..\\x", PathError::Refused('\\')),
            ("/project/api/project/add2;x=1", PathError::Refused(';')),
        ] {
            assert_eq!(one_form(path), Err(err), "{path}");
        }
    }

    #[test]
    fn other_paths_are_not_api_paths() {
        for path in [
            "/",
            "/healthz",
            "/project/api/project",
            "/project/api/project/",
            "*",
            "/Project/api/project/x",
        ] {
            assert_eq!(one_form(path), Ok(None), "{path}");
        }
    }

    #[test]
    fn url_parsers_leave_the_one_form_as_it_is() {
        // A proxy or an ONES that parses URLs (WHATWG, RFC 3986) serves the
        // path that was matched.
        for byte in 0x21u8..0x7f {
            if matches!(byte, b'?' | b'#') {
                continue;
            }
            let raw = format!("/project/api/project/a{}b/c", char::from(byte));
            let Ok(uri) = raw.parse::<http::Uri>() else {
                continue;
            };
            let Ok(Some(found)) = api_path(uri.path()) else {
                continue;
            };
            let normal = found.path();
            let url = reqwest::Url::parse(&format!("http://ones{normal}")).unwrap();
            assert_eq!(url.path(), normal, "{raw}");
            let uri: http::Uri = format!("http://ones{normal}").parse().unwrap();
            assert_eq!(uri.path(), normal, "{raw}");
        }
    }

    #[test]
    fn escapes_are_canonical() {
        assert_eq!(
            one_form("/project/api/project/a%3bb/%c3%A9/é/{\"}"),
            Ok(Some(
                "/project/api/project/a%3Bb/%C3%A9/%C3%A9/%7B%22%7D".to_string()
            ))
        );
    }
}
