//! Where the endpoint tasks run: one single-threaded tokio runtime per core, each on a thread of its own,
//! with the endpoints dealt out among them.
//!
//! Why not the process's multi-threaded runtime: a probe is a handful of socket events (connect, write,
//! read, the connection task's shutdown), and on a work-stealing runtime each event that wakes a task parked
//! on another worker wakes that worker's thread through the kernel. At 10,000 probes/s on two cores, `perf`
//! put a fifth of the agent's CPU in those wake-ups and the context switches after them
//! (`try_to_wake_up`, `finish_task_switch`), which a bare prober on one thread does not pay. A runtime per
//! thread keeps a probe's tasks (its own and its connection's) on one thread, and endpoints are alike enough
//! that dealing them out evenly balances the threads without stealing. Timers, sockets and the connection
//! tasks a probe spawns all belong to the runtime the endpoint runs on.
//!
//! In a single-threaded caller (tests with a paused clock) the tasks stay on the caller's runtime.

use std::future::Future;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct ProbeRuntimes {
    handles: Vec<Handle>,
    /// Dropping one ends its runtime's thread (and with it whatever still runs there).
    exits: Vec<oneshot::Sender<()>>,
}

impl ProbeRuntimes {
    /// `threads` runtimes (0: one per core), or none in a single-threaded caller.
    pub fn start(threads: usize) -> std::io::Result<ProbeRuntimes> {
        let mut runtimes = ProbeRuntimes { handles: Vec::new(), exits: Vec::new() };
        if Handle::current().runtime_flavor() == RuntimeFlavor::CurrentThread {
            return Ok(runtimes);
        }
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        for i in 0..threads {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (exit, exited) = oneshot::channel::<()>();
            runtimes.handles.push(rt.handle().clone());
            runtimes.exits.push(exit);
            std::thread::Builder::new().name(format!("watchpost-probe-{i}")).spawn(move || {
                // The runtime runs its tasks while this waits; dropped here, outside any async context.
                rt.block_on(async {
                    let _ = exited.await;
                });
            })?;
        }
        Ok(runtimes)
    }

    /// How many runtimes the endpoints are dealt among (0: the caller's).
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Runs the `i`-th endpoint's task on runtime `i mod n`, or on the caller's runtime when there are none.
    pub fn spawn<F>(&self, i: usize, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.handles.get(i % self.handles.len().max(1)) {
            Some(h) => h.spawn(task),
            None => tokio::spawn(task),
        }
    }

    /// Ends the runtimes' threads at once. Call it after the endpoint tasks have finished: whatever still
    /// runs there (a connection task a probe left behind) is dropped.
    pub fn stop(self) {
        for exit in self.exits {
            let _ = exit.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn endpoints_are_dealt_among_threads_of_their_own_and_the_threads_end() {
        let rts = ProbeRuntimes::start(3).unwrap();
        assert_eq!(rts.len(), 3);
        let names: Vec<String> = futures_names(&rts).await;
        assert_eq!(names, ["watchpost-probe-0", "watchpost-probe-1", "watchpost-probe-2", "watchpost-probe-0"]);
        let handle = rts.handles[0].clone();
        rts.stop();
        // The thread ends and drops its runtime: spawning there then fails to run.
        for _ in 0..100 {
            if handle.spawn(async {}).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the runtime's thread did not end");
    }

    async fn futures_names(rts: &ProbeRuntimes) -> Vec<String> {
        let mut names = Vec::new();
        for i in 0..4 {
            let name = rts.spawn(i, async { std::thread::current().name().unwrap_or_default().to_string() }).await.unwrap();
            names.push(name);
        }
        names
    }

    #[tokio::test]
    async fn a_single_threaded_caller_keeps_the_tasks() {
        let rts = ProbeRuntimes::start(0).unwrap();
        assert!(rts.is_empty());
        let here = std::thread::current().id();
        assert_eq!(rts.spawn(5, async move { std::thread::current().id() }).await.unwrap(), here);
    }
}
