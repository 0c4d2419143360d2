//! Escaping text for HTML and XML, shared by every renderer that writes markup (the status page, SLA
//! reports, JUnit reports). Not HTML knowledge, just the five characters and the controls XML forbids.

/// Escapes text for element content and for double- or single-quoted attribute values, in HTML and XML
/// 1.0. Control characters other than tab and line breaks (invalid in XML 1.0 even when escaped) become
/// spaces.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_and_attribute_breakouts_become_text() {
        assert_eq!(super::escape(r#"<script>alert("x")</script>"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
        assert_eq!(super::escape("' onmouseover='x"), "&#39; onmouseover=&#39;x");
        assert_eq!(super::escape("a&b\u{0}c\n"), "a&amp;b c\n");
    }
}
