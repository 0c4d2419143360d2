//! Alert labels and the matchers that select them: what routes, inhibition rules and silences are written
//! in (`component=checkout`, `severity=~"critical|error"`, `region!=eu`), as Alertmanager writes them, so
//! that a matcher copied from an `amtool` command line means the same here.
//!
//! Semantics (Alertmanager's): a label that is absent has the empty value, so `team=""` matches alerts
//! without a team and `team!=""` those with one; regular expressions match the whole value (`=~ "eu"`
//! does not match `eu-west`).

use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

/// An alert's labels, by name; sorted, so that their text and the group keys made of them are stable.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }
}

/// `name OP value`.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// `^(?:value)$`, for `=~` and `!~`.
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

/// Letters, digits and `_`, not starting with a digit (Prometheus label names).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Matcher {
    /// Reads `name=value`, `name!=value`, `name=~regex`, `name!~regex`; the value may be in double quotes
    /// (`severity=~"critical|error"`), with `\"` and `\\` inside them.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let t = text.trim();
        let at = t.find(['=', '!']).ok_or_else(|| format!("{text:?}: expected NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"))?;
        let name = t[..at].trim();
        let rest = &t[at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Eq, v)
        } else {
            return Err(format!("{text:?}: expected one of =, !=, =~, !~ after the label name"));
        };
        if !valid_name(name) {
            return Err(format!("{text:?}: `{name}` is not a label name (letters, digits and _, not starting with a digit)"));
        }
        let value = unquote(value.trim()).ok_or_else(|| format!("{text:?}: the quoted value is not closed"))?;
        Matcher::new(name, op, &value).map_err(|e| format!("{text:?}: {e}"))
    }

    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        let re = match op {
            MatchOp::Re | MatchOp::NotRe => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| format!("not a regular expression: {e}"))?)
            }
            _ => None,
        };
        Ok(Matcher { name: name.to_string(), op, value: value.to_string(), re })
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Ne, _) => v != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(v),
            (MatchOp::NotRe, Some(re)) => !re.is_match(v),
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }
}

/// Every matcher holds (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.value.is_empty() && self.value.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c));
        if plain {
            write!(f, "{}{}{}", self.name, self.op.as_str(), self.value)
        } else {
            write!(f, "{}{}\"{}\"", self.name, self.op.as_str(), self.value.replace('\\', "\\\\").replace('"', "\\\""))
        }
    }
}

fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else { return Some(v.to_string()) };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().trim().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// `k=v, k=v` (for tables and messages).
pub fn describe(labels: &Labels) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// `k=v,k=v` as given to `--labels` (values may not contain commas).
pub fn parse_list(text: &str) -> Result<Labels, String> {
    let mut out = Labels::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("{part:?}: expected NAME=VALUE"))?;
        let k = k.trim();
        if !valid_name(k) {
            return Err(format!("{part:?}: `{k}` is not a label name"));
        }
        out.insert(k.to_string(), unquote(v.trim()).unwrap_or_else(|| v.trim().to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matchers_follow_alertmanager() {
        let l = labels(&[("component", "checkout"), ("severity", "critical"), ("region", "eu-west")]);
        let m = |s: &str| Matcher::parse(s).unwrap().matches(&l);
        assert!(m("component=checkout"));
        assert!(m(" component = checkout "));
        assert!(!m("component!=checkout"));
        assert!(m(r#"severity=~"critical|error""#));
        assert!(!m("region=~eu"), "regular expressions are anchored");
        assert!(m("region=~eu.*"));
        assert!(m("region!~us.*"));
        assert!(m(r#"team="""#), "an absent label is empty");
        assert!(!m(r#"team!="""#));
        assert!(m("team!=payments"));
        assert_eq!(Matcher::parse(r#"a="x \"y\"""#).unwrap().value, "x \"y\"");
        for bad in ["component", "9a=b", "a=~(", "=x", r#"a="open"#, "a b=c"] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
        let shown = Matcher::parse(r#"severity=~"critical|error""#).unwrap().to_string();
        assert_eq!(shown, r#"severity=~"critical|error""#);
        assert_eq!(Matcher::parse(&shown).unwrap(), Matcher::parse(r#"severity=~"critical|error""#).unwrap());
        assert_eq!(Matcher::parse("component=checkout").unwrap().to_string(), "component=checkout");
    }

    #[test]
    fn label_lists_parse_and_refuse_bad_names() {
        assert_eq!(parse_list("component=db, severity=critical").unwrap(), labels(&[("component", "db"), ("severity", "critical")]));
        assert!(parse_list("component").is_err());
        assert!(parse_list("1x=2").is_err());
        assert_eq!(parse_list("").unwrap(), Labels::new());
    }
}
