//! Text made safe for where it goes: HTML (element content and quoted attributes alike) and URL
//! components (RFC 3986's unreserved characters kept, everything else `%XX`).

use std::borrow::Cow;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - . _ ~`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// The same, with `/` kept (a path).
const PATH: &AsciiSet = &COMPONENT.remove(b'/');

/// `text` with `& < > " '` escaped for HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_html_into(text, &mut out);
    out
}

/// [`escape_html`], appended to `out`.
pub fn escape_html_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` as a URL component (a query value, a path segment): every byte but the unreserved
/// ones as uppercase `%XX`, `/` too unless `keep_slash` (a whole path). AWS's SigV4 URI
/// encoding is exactly this.
pub fn encode_component(text: &str, keep_slash: bool) -> Cow<'_, str> {
    utf8_percent_encode(text, if keep_slash { PATH } else { COMPONENT }).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_url_components_are_escaped() {
        assert_eq!(escape_html(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(encode_component("a b/c~d.é", false), "a%20b%2Fc~d.%C3%A9");
        assert_eq!(encode_component("a b/c", true), "a%20b/c");
        assert!(matches!(encode_component("plain-_.~", false), Cow::Borrowed(_)));
    }
}
