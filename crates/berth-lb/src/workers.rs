//! Thread per core: the data plane runs on its own worker threads, each with a single-threaded
//! tokio runtime, its own accept loop on every port (SO_REUSEPORT lets the kernel spread new
//! connections over them; the data plane then evens out what the kernel's hash leaves uneven)
//! and its own pool of upstream connections. A request is then handled
//! from client read to upstream write to client write on one thread, without the cross-thread
//! wake-ups a shared work-stealing runtime costs on every request (measured with `perf`: the
//! proxy's share of a request, not the kernel's, is what this removes).

use std::thread;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub(crate) struct Workers {
    handles: Vec<Handle>,
    /// Dropping these lets each worker's runtime return and drop its tasks.
    _stop: Vec<oneshot::Sender<()>>,
}

impl Workers {
    pub fn start(count: usize) -> std::io::Result<Workers> {
        let mut handles = Vec::with_capacity(count);
        let mut stop = Vec::with_capacity(count);
        for index in 0..count.max(1) {
            let (handle_sender, handle_receiver) = std::sync::mpsc::channel();
            let (stop_sender, stop_receiver) = oneshot::channel::<()>();
            thread::Builder::new()
                .name(format!("berth-lb-{index}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = handle_sender.send(Err(error));
                            return;
                        }
                    };
                    let _ = handle_sender.send(Ok(runtime.handle().clone()));
                    // Runs every task spawned onto this worker until the data plane is dropped.
                    let _ = runtime.block_on(stop_receiver);
                })?;
            let handle = handle_receiver
                .recv()
                .map_err(|_| std::io::Error::other("a data plane worker thread died at start"))??;
            handles.push(handle);
            stop.push(stop_sender);
        }
        Ok(Workers {
            handles,
            _stop: stop,
        })
    }

    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}
