//! Atom and RSS 2.0 feeds of incidents and maintenance: one entry per incident (its latest update as the
//! summary, every update in the content) and one per maintenance window.

use super::{escape, human_time, rfc3339};
use crate::config::StatusPageConfig;
use crate::snapshot::Snapshot;
use watchpost_core::time::Nanos;

struct Entry {
    id: String,
    title: String,
    link: String,
    updated: Nanos,
    published: Nanos,
    /// Plain text; escaped by the renderer.
    content: String,
}

fn entries(cfg: &StatusPageConfig, s: &Snapshot) -> Vec<Entry> {
    let mut out = Vec::new();
    for x in &s.incidents {
        let mut content = String::new();
        for u in &x.updates {
            content.push_str(&format!("{} — {}: {}\n", human_time(u.created_at, &cfg.tz), u.status.label(), u.body));
        }
        out.push(Entry {
            id: format!("{}/incidents/{}", cfg.url, x.id),
            title: format!("{} [{}]", x.name, x.status.label()),
            link: format!("{}/incidents/{}", cfg.url, x.id),
            updated: x.updated_at,
            published: x.created_at,
            content,
        });
    }
    for m in &s.maintenances {
        out.push(Entry {
            id: format!("{}/#maintenance-{}", cfg.url, m.id),
            title: format!("Maintenance: {} [{}]", m.title, m.status.label()),
            link: format!("{}/#maintenance-{}", cfg.url, m.id),
            updated: m.start.min(s.now),
            published: m.start.min(s.now),
            content: format!(
                "{} to {}. Affects: {}.",
                human_time(m.start, &cfg.tz),
                human_time(m.end, &cfg.tz),
                m.components.iter().filter_map(|c| s.component(c)).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.updated));
    out.truncate(50);
    out
}

pub fn atom(cfg: &StatusPageConfig, s: &Snapshot) -> String {
    let entries = entries(cfg, s);
    let updated = entries.first().map_or(s.now, |e| e.updated);
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    out.push_str(&format!("<id>{}/</id>\n<title>{} incidents and maintenance</title>\n", escape(&cfg.url), escape(&cfg.title)));
    out.push_str(&format!("<updated>{}</updated>\n", rfc3339(updated)));
    out.push_str(&format!("<link rel=\"alternate\" type=\"text/html\" href=\"{}/\"/>\n", escape(&cfg.url)));
    out.push_str(&format!("<link rel=\"self\" type=\"application/atom+xml\" href=\"{}/feed.atom\"/>\n", escape(&cfg.url)));
    out.push_str(&format!("<author><name>{}</name></author>\n", escape(&cfg.title)));
    for e in &entries {
        out.push_str(&format!(
            "<entry>\n<id>{}</id>\n<title>{}</title>\n<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n<published>{}</published>\n<updated>{}</updated>\n<content type=\"text\">{}</content>\n</entry>\n",
            escape(&e.id),
            escape(&e.title),
            escape(&e.link),
            rfc3339(e.published),
            rfc3339(e.updated),
            escape(&e.content)
        ));
    }
    out.push_str("</feed>\n");
    out
}

/// An RSS `<description>`: feed readers render it as HTML (RSS 2.0 says it may hold "entity-encoded HTML"),
/// so plain text is HTML-escaped first (its line breaks kept as `<br>`), then escaped again for the XML
/// around it. Escaped once, an `<img onerror>` in an incident message would be live in the reader.
fn rss_description(text: &str) -> String {
    escape(&escape(text).replace('\n', "<br>\n"))
}

fn rfc2822(ts: Nanos) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ts)).map(|t| t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()).unwrap_or_default()
}

pub fn rss(cfg: &StatusPageConfig, s: &Snapshot) -> String {
    let entries = entries(cfg, s);
    let mut out = String::with_capacity(4096);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n",
    );
    out.push_str(&format!("<title>{} incidents and maintenance</title>\n<link>{}/</link>\n", escape(&cfg.title), escape(&cfg.url)));
    out.push_str(&format!("<description>{}</description>\n", rss_description(&format!("Incidents and maintenance of {}", cfg.title))));
    out.push_str(&format!("<atom:link href=\"{}/feed.rss\" rel=\"self\" type=\"application/rss+xml\"/>\n", escape(&cfg.url)));
    out.push_str(&format!("<lastBuildDate>{}</lastBuildDate>\n", rfc2822(s.now)));
    for e in &entries {
        out.push_str(&format!(
            "<item>\n<title>{}</title>\n<link>{}</link>\n<guid isPermaLink=\"false\">{}</guid>\n<pubDate>{}</pubDate>\n<description>{}</description>\n</item>\n",
            escape(&e.title),
            escape(&e.link),
            escape(&format!("{}#{}", e.id, e.updated)),
            rfc2822(e.updated),
            rss_description(&e.content)
        ));
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::rss_description;

    /// Issue 17, defect 10: `<description>` was only XML-escaped, so readers rendered incident text as HTML.
    #[test]
    fn regression_rss_description_is_html_escaped_then_xml_escaped() {
        // XML-decoded, the reader gets `&lt;img …&gt; &amp; &quot;q&quot;<br>\nsecond`: HTML that shows the
        // text and has no element but the line break.
        assert_eq!(
            rss_description("<img src=x onerror=alert(1)> & \"q\"\nsecond"),
            "&amp;lt;img src=x onerror=alert(1)&amp;gt; &amp;amp; &amp;quot;q&amp;quot;&lt;br&gt;\nsecond"
        );
    }
}
