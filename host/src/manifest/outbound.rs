//! Entries of `sandbox.outbound`: the outside hosts a plugin may reach.
//!
//! An entry is `[scheme://]host[:port]`, where `host` may start with `*.` to
//! allow every subdomain (not the domain itself). Without a scheme both
//! `http` and `https` are allowed; without a port, only the scheme's default
//! port (80 or 443).

use std::fmt;

/// One parsed allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRule {
    scheme: Option<String>,
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl OutboundRule {
    /// Parses an entry, or says why it is not one.
    pub fn parse(text: &str) -> Result<OutboundRule, String> {
        let trimmed = text.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = scheme.to_ascii_lowercase();
                if scheme != "http" && scheme != "https" {
                    return Err(format!(
                        "`{text}`: only http and https hosts can be allowed"
                    ));
                }
                (Some(scheme), rest)
            }
            None => (None, trimmed),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(format!(
                "`{text}`: give a host (and port), not a path or credentials"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("`{text}`: `{port}` is not a port"))?;
                (host, Some(port))
            }
            None => (rest, None),
        };
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, host),
        };
        let valid = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(format!("`{text}`: `{host}` is not a host name"));
        }
        Ok(OutboundRule {
            scheme,
            host: host.to_ascii_lowercase(),
            wildcard,
            port,
        })
    }

    /// Whether a URL with this scheme, host and port is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        if self.port.unwrap_or(default_port) != port {
            return false;
        }
        let host = host.to_ascii_lowercase();
        if self.wildcard {
            host.len() > self.host.len() + 1
                && host.ends_with(&self.host)
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            host == self.host
        }
    }
}

impl fmt::Display for OutboundRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_scheme_host_port_and_subdomains() {
        let exact = OutboundRule::parse("https://api.example.com").unwrap();
        assert!(exact.allows("https", "api.example.com", 443));
        assert!(exact.allows("https", "API.example.com", 443));
        assert!(!exact.allows("http", "api.example.com", 80));
        assert!(!exact.allows("https", "api.example.com", 8443));
        assert!(!exact.allows("https", "evil.api.example.com", 443));
        let wild = OutboundRule::parse("*.example.org").unwrap();
        assert!(wild.allows("http", "a.example.org", 80));
        assert!(wild.allows("https", "b.a.example.org", 443));
        assert!(!wild.allows("https", "example.org", 443));
        assert!(!wild.allows("https", "badexample.org", 443));
        let port = OutboundRule::parse("http://127.0.0.1:8080").unwrap();
        assert!(port.allows("http", "127.0.0.1", 8080));
        assert!(!port.allows("http", "127.0.0.1", 8081));
        assert_eq!(port.to_string(), "http://127.0.0.1:8080");
    }

    #[test]
    fn bad_entries_say_why() {
        for (text, needle) in [
            ("ftp://x.com", "only http and https"),
            ("https://x.com/path", "not a path"),
            ("x.com:http", "not a port"),
            ("*.", "not a host name"),
            ("exa mple.com", "not a host name"),
        ] {
            let err = OutboundRule::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
