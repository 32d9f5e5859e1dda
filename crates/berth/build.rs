//! Compiles the demo workload (`crates/berth-demo`) into a statically linked Linux executable in
//! OUT_DIR, which `src/demo.rs` embeds so that `berth demo image` needs no registry.
//!
//! Plain `rustc` on the crate's root file rather than a nested `cargo build`: the workload has no
//! dependencies, so this takes under two seconds and needs no second target directory.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let demo_src = manifest_dir.join("../berth-demo/src");
    let root = demo_src.join("main.rs");
    let output = out_dir.join("berth-demo");

    // A directory makes cargo re-run this script when any file under it changes.
    println!("cargo:rerun-if-changed={}", demo_src.display());
    println!("cargo:rerun-if-changed=build.rs");

    let target = workload_target();
    let result = Command::new(&rustc)
        .args([
            "--edition",
            "2024",
            "--crate-name",
            "berth_demo",
            "--crate-type",
            "bin",
        ])
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        // static-pie: a FROM scratch image has no dynamic loader and no libc.
        .args(["-C", "target-feature=+crt-static"])
        .args(["--target", &target])
        .arg("-o")
        .arg(&output)
        .arg(&root)
        // Flags meant for the outer build (e.g. instrumentation) must not leak into the workload.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output();
    let result = match result {
        Ok(result) => result,
        Err(err) => panic!(
            "building the berth-demo workload: cannot run {}: {err}",
            rustc.to_string_lossy()
        ),
    };
    if !result.status.success() {
        panic!(
            "building the berth-demo workload ({}) for {target} failed with {}.\n\
             It needs the Rust standard library for {target} (`rustup target add {target}`) and a C \
             toolchain with static glibc (Debian: libc6-dev).\n{}",
            root.display(),
            result.status,
            String::from_utf8_lossy(&result.stderr)
        );
    }
    let binary = std::fs::read(&output).expect("reading the built berth-demo workload");
    if has_interpreter(&binary) {
        panic!(
            "the berth-demo workload at {} is dynamically linked; a FROM scratch image cannot run \
             it (is static glibc, libc6-dev, installed?)",
            output.display()
        );
    }
}

/// Whether an ELF64 little-endian executable asks for a dynamic loader (a PT_INTERP program
/// header). A static-pie has none.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&elf[at..at + 8]);
        u64::from_le_bytes(bytes) as usize
    };
    assert!(
        elf.len() >= 64 && elf.starts_with(b"\x7fELF\x02\x01"),
        "the berth-demo workload is not a 64-bit little-endian ELF executable"
    );
    let (table, entry_size, entries) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..entries).any(|index| {
        let at = table + index * entry_size;
        elf.get(at..at + 4).is_some_and(|kind| {
            u32::from_le_bytes([kind[0], kind[1], kind[2], kind[3]]) == PT_INTERP
        })
    })
}

/// The Linux target the image runs: this build's own target when that is Linux (so an arm64 host
/// gets an arm64 image), else x86_64 Linux.
fn workload_target() -> String {
    match env::var("TARGET") {
        Ok(target) if target.ends_with("-unknown-linux-gnu") => target,
        _ => "x86_64-unknown-linux-gnu".to_string(),
    }
}
