//! Runs a data plane from a JSON `Config` file (the serde form of `berth_lb::Config`), for
//! benchmarks and manual tests. Prints `ready LISTENER_ID ADDRESS` per listener, then serves
//! until killed.
//!
//!     cargo run --release -p berth-lb --example lb -- CONFIG.json [WORKERS] [BIND_IP]

use berth_lb::{Config, DataPlane, Options};

/// As in the `berth` binary, which will host the data plane: the proxy allocates and frees
/// small buffers and header maps per request, which mimalloc does cheaper than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: lb CONFIG.json [WORKERS] [BIND_IP]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let config: Config =
        serde_json::from_str(&text).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let threads = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(2);
    let bind_ip = args
        .get(3)
        .map(|ip| ip.parse().unwrap_or_else(|e| fail(&format!("{ip}: {e}"))))
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let (plane, _metrics) = DataPlane::new(Options {
        bind_ip,
        workers: threads,
        ..Options::default()
    })
    .unwrap_or_else(|e| fail(&e.to_string()));
    let applied = plane.apply(config).unwrap_or_else(|e| fail(&e.to_string()));
    let mut listeners: Vec<_> = applied.listeners.into_iter().collect();
    listeners.sort();
    for (id, address) in listeners {
        println!("ready {id} {address}");
    }
    // The data plane serves on its own worker threads until the process is killed.
    loop {
        std::thread::park();
    }
}

fn fail(message: &str) -> ! {
    eprintln!("lb: {message}");
    std::process::exit(1);
}
