//! Configuration errors: each names the file, the line (or the environment variable) and the key path, and
//! all of a file's errors are reported together.

use std::fmt;

/// Where a value in the final tree came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Line (1-based) in the configuration file.
    Line(usize),
    /// An environment variable override.
    Env(String),
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub origin: Option<Origin>,
    /// Key path such as `endpoints[3].timeout`; empty for file-level errors.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn env(var: &str, message: impl Into<String>) -> Self {
        ConfigError { file: String::new(), origin: Some(Origin::Env(var.to_string())), key: String::new(), message: message.into() }
    }

    /// The line in the file, when the value came from the file.
    pub fn line(&self) -> Option<usize> {
        match self.origin {
            Some(Origin::Line(l)) => Some(l),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(Origin::Line(line)) => write!(f, "{}:{line}: ", self.file)?,
            Some(Origin::Env(var)) => write!(f, "environment variable {var}: ")?,
            None if !self.file.is_empty() => write!(f, "{}: ", self.file)?,
            None => {}
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one configuration, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn one(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }

    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was pushed, else these errors sorted by line.
    pub fn into_result<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            self.0.sort_by_key(|e| e.line().unwrap_or(usize::MAX));
            Err(self)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
