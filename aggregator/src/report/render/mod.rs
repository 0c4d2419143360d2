//! Report renderers: pure functions from a [`Report`] to bytes, one file per format, chosen in one `match`.

mod csv;
mod html;
mod json;

use super::Report;

/// An output format of `watchpost report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "html" => Some(Format::Html),
            _ => None,
        }
    }
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => json::render(report),
        Format::Csv => csv::render(report),
        Format::Html => html::render(report),
    }
}

/// Rounds for display: figures are exact in the report, renderers show what people can read.
fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}
