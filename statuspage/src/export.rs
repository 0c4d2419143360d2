//! `watchpost statuspage export DIR`: the page, its JSON, feeds and badges as static files, for hosting on
//! any web server or object store. The files are exactly what the server would answer at the same paths
//! (our own `/api/v1` series get a `.json` suffix, since a static host picks the type by extension).

use crate::render::{badge, json as json_render};
use crate::{Published, StatusPage};
use std::path::{Path, PathBuf};

/// Writes every public document under `dir`; returns the files written.
pub fn export(page: &StatusPage, published: &Published, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let s = &published.snapshot;
    let cfg = &page.cfg;
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![
        ("index.html".into(), published.page.plain.to_vec()),
        ("assets/style.css".into(), crate::render::html::STYLE.as_bytes().to_vec()),
        ("feed.atom".into(), published.atom.plain.to_vec()),
        ("feed.rss".into(), published.rss.plain.to_vec()),
    ];
    if let Some((bytes, _)) = page.logo() {
        files.push(("assets/logo".into(), bytes.to_vec()));
    }
    for (path, body) in &published.docs {
        files.push((Path::new("api/v2").join(path), body.plain.to_vec()));
    }
    for c in &s.components {
        let base = Path::new("api/v1/components").join(&c.id);
        files.push((base.join("uptime.json"), json_render::uptime(cfg, s, c).to_string().into_bytes()));
        files.push((base.join("response-times.json"), json_render::response_times(cfg, c).to_string().into_bytes()));
        for kind in badge::KINDS {
            if let Some(svg) = badge::for_component(kind, c, cfg.partial_outage_weight, page.objective_ms, None, None) {
                files.push((Path::new("badge").join(&c.id).join(kind), svg.into_bytes()));
            }
        }
    }
    let mut written = Vec::with_capacity(files.len());
    for (rel, bytes) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Write beside and rename, so a web server never serves half a file.
        let tmp = path.with_extension("tmp-export");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
        written.push(path);
    }
    Ok(written)
}
