//! The `watchpost` binary's library half: how the parts' configurations are assembled into one, so that
//! the binary and the end-to-end tests load a file the same way. Everything else of the binary lives in
//! `main.rs` and its modules.

pub mod settings;
