//! A plugin's header list (`(name, value)` pairs, as the WIT world carries
//! them) made into HTTP headers: one conversion, with one documented filter
//! for each direction a plugin's headers go.
//!
//! | direction | dropped |
//! |---|---|
//! | [`Direction::Answer`]: a route's or hook's answer to the client | `content-length` (the host frames the body); the hop-by-hop headers are removed after, by the gateway |
//! | [`Direction::Upstream`]: a `prefix` hook's request headers to ONES | nothing here: the proxy's forwarding rules apply after |
//! | [`Direction::Fetch`]: an `OPFetch` request | `host`, `content-length`, `transfer-encoding`, `connection` (the HTTP client manages them) |
//!
//! A name that is not a header name, or a value that is not a header value,
//! is an error naming the header (never its value: it may hold a token).

use http::{HeaderMap, HeaderName, HeaderValue};

/// Where a plugin's headers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To the client, as the plugin's answer.
    Answer,
    /// To ONES, as the request a `prefix` hook rewrote.
    Upstream,
    /// To ONES, as an `OPFetch` request.
    Fetch,
}

impl Direction {
    /// Whether the filter of this direction drops `name` (lower case).
    fn drops(self, name: &str) -> bool {
        match self {
            Direction::Answer => name == "content-length",
            Direction::Upstream => false,
            Direction::Fetch => matches!(
                name,
                "host" | "content-length" | "transfer-encoding" | "connection"
            ),
        }
    }
}

/// A header a plugin gave that HTTP cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHeader {
    /// The name is not a header name.
    #[error("`{0}` is not a header name")]
    Name(String),
    /// The value is not a header value.
    #[error("the value of header `{0}` is invalid")]
    Value(String),
}

/// The headers `fields` as HTTP headers going `direction`, in order, names
/// in lower case, repeated names kept.
pub fn to_http(fields: &[(String, String)], direction: Direction) -> Result<HeaderMap, BadHeader> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        let parsed =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| BadHeader::Name(name.clone()))?;
        if direction.drops(parsed.as_str()) {
            continue;
        }
        let value =
            HeaderValue::from_str(value).map_err(|_| BadHeader::Value(parsed.to_string()))?;
        headers.append(parsed, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_direction_drops_what_its_side_manages_and_keeps_the_rest_in_order() {
        let given = fields(&[
            ("X-One", "1"),
            ("Content-Length", "9"),
            ("Host", "elsewhere"),
            ("x-one", "2"),
            ("Connection", "close"),
        ]);
        let answer = to_http(&given, Direction::Answer).unwrap();
        assert_eq!(answer.get_all("x-one").iter().count(), 2);
        assert!(answer.get("content-length").is_none());
        assert_eq!(answer["host"], "elsewhere");
        let fetch = to_http(&given, Direction::Fetch).unwrap();
        let names: Vec<&str> = fetch.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-one"]);
        let upstream = to_http(&given, Direction::Upstream).unwrap();
        assert_eq!(upstream.len(), 5);
    }

    #[test]
    fn a_bad_name_or_value_is_named_and_the_value_never_shown() {
        assert_eq!(
            to_http(&fields(&[("bad name", "v")]), Direction::Answer).unwrap_err(),
            BadHeader::Name("bad name".into())
        );
        let err = to_http(&fields(&[("X-Token", "secret\nvalue")]), Direction::Fetch).unwrap_err();
        assert_eq!(err.to_string(), "the value of header `x-token` is invalid");
    }
}
