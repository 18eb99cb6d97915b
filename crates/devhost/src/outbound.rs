//! `allowed_outbound_hosts`: which destinations a component may reach, with Spin's rules.
//!
//! An entry is `scheme://host[:port]`. The scheme may be `*`; the host may be `*`, `*.domain`
//! (any subdomain), a name or an IP literal; the port may be omitted (the scheme's well-known
//! port), `*`, a number or a range `a..b` (end exclusive). `http://<component>.spin.internal`
//! (or `http://*.spin.internal`) allows calls to this application's own components without the
//! network. As in Spin 3, `*.domain` does not match `domain` itself and `insecure:allow-all` is
//! refused.

use anyhow::{bail, Context, Result};

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

/// A component's outbound policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OutboundPolicy {
    entries: Vec<AllowedHost>,
}

/// The well-known port of a scheme, as Spin assumes it when an entry or URL omits the port.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "redis" => 6379,
        "rediss" => 6380,
        "mysql" => 3306,
        "postgres" => 5432,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl OutboundPolicy {
    /// Parses the (already template-expanded) entries of one component.
    pub(crate) fn parse(entries: &[String]) -> Result<Self> {
        let mut policy = OutboundPolicy::default();
        for entry in entries {
            policy.entries.push(
                AllowedHost::parse(entry)
                    .with_context(|| format!("invalid allowed_outbound_hosts entry {entry:?}: use scheme://host[:port]"))?,
            );
        }
        Ok(policy)
    }

    /// Whether a request to `scheme://host:port` is allowed (`port` already defaulted).
    pub(crate) fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.entries.iter().any(|entry| entry.matches(scheme, host, port))
    }

    /// Whether this component may call component `target` of the same application.
    pub(crate) fn allows_component(&self, target: &str) -> bool {
        self.allows("http", &format!("{target}.spin.internal"), 80)
    }

    /// Whether `url` (`scheme://host[:port][/...]`) is allowed.
    pub(crate) fn allows_url(&self, url: &str) -> bool {
        let Ok(parsed) = url::Url::parse(url) else {
            return false;
        };
        let (Some(host), Some(port)) = (parsed.host_str(), parsed.port().or_else(|| default_port(parsed.scheme()))) else {
            return false;
        };
        self.allows(parsed.scheme(), host.trim_start_matches('[').trim_end_matches(']'), port)
    }
}

impl AllowedHost {
    fn parse(entry: &str) -> Result<Self> {
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("missing scheme");
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') {
            bail!("Invalid allowed host {rest:?}: credentials do not belong here (Spin refuses them); grant scheme://host:port");
        }
        if rest.contains('/') || rest.is_empty() {
            bail!("no path allowed, and the host is required");
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
            _ => (rest, None),
        };
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => Some(s.to_ascii_lowercase()),
            _ => bail!("invalid scheme {scheme:?}"),
        };
        let host = match host {
            "*" => HostPattern::Any,
            h if h.starts_with("*.") && h.len() > 2 => HostPattern::Subdomain(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => bail!("'*' is only allowed as the whole host or as '*.domain'"),
            h => HostPattern::Exact(h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()),
        };
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((a, b)) => PortPattern::Range(a.parse()?, b.parse()?),
                None => {
                    let p: u16 = p.parse()?;
                    PortPattern::Range(p, p.saturating_add(1))
                }
            },
            None => match scheme.as_deref().and_then(default_port) {
                Some(p) => PortPattern::Range(p, p + 1),
                None => bail!("a port is required for this scheme"),
            },
        };
        Ok(AllowedHost { scheme, host, port })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(scheme))
            && self.host.matches(host)
            && match self.port {
                PortPattern::Any => true,
                PortPattern::Range(a, b) => (a..b).contains(&port),
            }
    }
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.eq_ignore_ascii_case(host),
            HostPattern::Subdomain(suffix) => host.len() > suffix.len() && host.to_ascii_lowercase().ends_with(suffix.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        OutboundPolicy::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn default_ports_and_explicit_ports() {
        let p = policy(&["https://api.example.com", "redis://127.0.0.1:6380", "http://localhost:9000"]);
        assert!(p.allows_url("https://api.example.com/x"));
        assert!(!p.allows_url("https://api.example.com:8443/x"));
        assert!(!p.allows_url("http://api.example.com/x"));
        assert!(p.allows_url("redis://127.0.0.1:6380"));
        assert!(!p.allows_url("redis://127.0.0.1"));
        assert!(p.allows_url("http://localhost:9000/bucket?x"));
        assert!(!p.allows_url("http://localhost:9001/"));
    }

    #[test]
    fn wildcards_for_scheme_host_and_port() {
        let p = policy(&["*://*.example.com:*", "http://10.0.0.1:8000..8002"]);
        assert!(p.allows_url("https://a.example.com/"));
        assert!(p.allows_url("redis://b.c.example.com:1"));
        assert!(!p.allows_url("https://example.com/"));
        assert!(!p.allows_url("https://evil-example.com/"));
        assert!(p.allows_url("http://10.0.0.1:8001/"));
        assert!(!p.allows_url("http://10.0.0.1:8002/"));
    }

    #[test]
    fn service_chaining_entries() {
        let p = policy(&["http://b.spin.internal"]);
        assert!(p.allows_component("b"));
        assert!(!p.allows_component("c"));
        assert!(policy(&["http://*.spin.internal"]).allows_component("c"));
        assert!(!policy(&["https://b.spin.internal"]).allows_component("b"));
    }

    #[test]
    fn malformed_entries_are_errors() {
        for bad in [
            "insecure:allow-all",
            "api.example.com",
            "https://a.example.com/path",
            "https://a*.example.com",
            "ftp://x",
            "http://",
            "redis://:secret@db.example.com:6379",
        ] {
            let entries = vec![bad.to_owned()];
            assert!(OutboundPolicy::parse(&entries).is_err(), "{bad}");
        }
    }
}
