//! `berth-demo`: the test/demo workload that ships inside the `berth` binary as the image
//! `berth-demo:latest` (an HTTP server, an exit-with-code, a log producer, a health checker and
//! a CPU burner).
//!
//! std only, no dependencies: `crates/berth/build.rs` compiles this file with plain `rustc` into a
//! statically linked executable for a `FROM scratch` image, which has no shell and no libc.

mod args;
mod check;
mod http;
mod server;

use std::io::Write;
use std::process::exit;
use std::thread;
use std::time::{Duration, Instant};

use args::Command;

fn main() {
    // Lossy so that a non-UTF-8 argument becomes a usage error instead of a panic.
    let arguments: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|argument| argument.to_string_lossy().into_owned())
        .collect();
    let command = match args::parse(&arguments) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("berth-demo: {message}\n{}", args::USAGE);
            exit(2);
        }
    };
    signals::exit_cleanly_on_termination();
    match command {
        Command::Help => {
            print!("{}", args::USAGE);
        }
        Command::Serve { port } => {
            if let Err(err) = server::serve(port) {
                eprintln!("berth-demo: serving on port {port}: {err}");
                exit(1);
            }
        }
        Command::Exit { code, after } => {
            if let Some(delay) = after {
                thread::sleep(delay);
            }
            exit(code);
        }
        Command::Log { lines, rate } => log(lines, rate),
        Command::Burn { threads } => burn(threads),
        Command::Check { url } => match check::check(&url, check::TIMEOUT) {
            Ok(status) if (200..300).contains(&status) => exit(0),
            Ok(status) => {
                eprintln!("berth-demo: {} answered {status}", url.text);
                exit(1);
            }
            Err(err) => {
                eprintln!("berth-demo: {}: {err}", url.text);
                exit(1);
            }
        },
    }
}

/// `log --lines N [--rate PER_SEC]`: N numbered lines, then idles until stopped so that tests can
/// read the lines from a task that is still RUNNING.
fn log(lines: u64, rate: Option<f64>) -> ! {
    let start = Instant::now();
    let stdout = std::io::stdout();
    for number in 1..=lines {
        if let Some(rate) = rate {
            // Paced from the start, not from the previous line, so slow writes do not add drift.
            let offset = Duration::try_from_secs_f64((number - 1) as f64 / rate);
            match offset.ok().and_then(|offset| start.checked_add(offset)) {
                Some(due) => sleep_until(due),
                None => idle_forever(),
            }
        }
        let mut out = stdout.lock();
        // Write errors (stdout closed) are ignored: the process keeps its lifecycle either way.
        let _ = writeln!(out, "line {number}");
        let _ = out.flush();
    }
    idle_forever()
}

/// `burn [--threads N]`: N threads that keep a core busy each, until the process is stopped
/// (for CPU metrics and auto scaling tests).
fn burn(threads: u32) -> ! {
    for _ in 1..threads {
        thread::spawn(spin);
    }
    spin()
}

fn spin() -> ! {
    let mut state = 1u64;
    loop {
        // Cheap arithmetic the optimizer cannot remove.
        state = std::hint::black_box(state.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn sleep_until(due: Instant) {
    let now = Instant::now();
    if due > now {
        thread::sleep(due - now);
    }
}

fn idle_forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// The SIGTERM handler. In a container this process is PID 1, and the kernel drops signals that
/// PID 1 has no handler for, so without one `docker stop` would wait out its timeout and SIGKILL
/// us (exit 137) instead of seeing the clean exit 0 that ECS's stop path expects.
#[allow(unsafe_code)]
mod signals {
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    const SIG_ERR: usize = usize::MAX;

    // From the C library that std already links (statically, in the image).
    unsafe extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
        fn _exit(status: i32) -> !;
    }

    extern "C" fn exit_cleanly(_signum: i32) {
        // SAFETY: `_exit` is async-signal-safe. Nothing is left to flush: every writer of stdout
        // flushes per line.
        unsafe { _exit(0) }
    }

    pub fn exit_cleanly_on_termination() {
        for signum in [SIGTERM, SIGINT] {
            // SAFETY: installs a handler that only calls an async-signal-safe function.
            let previous = unsafe { signal(signum, exit_cleanly) };
            if previous == SIG_ERR {
                eprintln!("berth-demo: cannot install a handler for signal {signum}");
            }
        }
    }
}
