//! The TCP probe: connect (timed), optionally send a payload and wait for an expected reply.

use super::net::{io_class, Shared};
use super::{assert::contains, Observation, Probe, ProbeFailure};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use watchpost_core::config::TcpProbeConfig;
use watchpost_core::model::ErrorClass;

/// The most of a reply that is read while waiting for `expect`.
const MAX_REPLY: usize = 64 * 1024;

pub struct TcpProbe {
    cfg: TcpProbeConfig,
    shared: Arc<Shared>,
}

impl TcpProbe {
    pub fn new(cfg: TcpProbeConfig, shared: Arc<Shared>) -> Self {
        TcpProbe { cfg, shared }
    }
}

#[async_trait::async_trait]
impl Probe for TcpProbe {
    async fn observe(&self) -> Result<Observation, ProbeFailure> {
        let (mut stream, timings) = self.shared.dial(&self.cfg.host, self.cfg.port).await?;
        let fail = |class, detail: String| ProbeFailure { timings, ..ProbeFailure::new(class, detail) };
        if let Some(payload) = &self.cfg.send {
            stream.write_all(payload.as_bytes()).await.map_err(|e| fail(io_class(&e), format!("send: {e}")))?;
        }
        let mut reply = Vec::new();
        if let Some(expect) = &self.cfg.expect {
            let mut chunk = [0u8; 4096];
            while !contains(&reply, expect.as_bytes()) && reply.len() < MAX_REPLY {
                let n = stream.read(&mut chunk).await.map_err(|e| fail(io_class(&e), format!("read: {e}")))?;
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&chunk[..n]);
            }
            if !contains(&reply, expect.as_bytes()) {
                let shown: String = String::from_utf8_lossy(&reply[..reply.len().min(80)]).chars().filter(|c| !c.is_control()).collect();
                return Err(fail(ErrorClass::Assertion, format!("reply: expected to contain {expect:?}, got {shown:?}")));
            }
        }
        Ok(Observation { body: reply.into(), timings, ..Default::default() })
    }
}
