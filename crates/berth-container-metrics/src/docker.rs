//! Docker stats samples (the Engine API's `GET /containers/ID/stats` JSON, as the one-shot call
//! returns it) and what a container used between two of them.
//!
//! - CPU in ECS's CPU units (1024 per core): the container's share of the host's CPU time
//!   between two samples, `Δ cpu_usage.total_usage / Δ system_cpu_usage × online_cpus × 1024`
//!   (the Docker CLI's CPU percentage, scaled from 100 per core to 1024). The one-shot call
//!   leaves `precpu_stats` empty, so the agent keeps each container's previous sample; a sample
//!   whose `precpu_stats` is filled (the non-one-shot call) also serves on its own.
//! - Memory as the Docker CLI shows it: `usage` less the page cache that can be reclaimed
//!   (`total_inactive_file` on cgroup v1, `inactive_file` on cgroup v2, `cache` on old engines).
//! - Network: received and sent bytes summed over the container's interfaces (none in `host`
//!   mode), as rates between two samples.
//! - Block I/O: bytes read and written (`io_service_bytes_recursive`), as amounts between two
//!   samples.

use std::collections::BTreeMap;

use serde::Deserialize;

/// CPU units per core, as ECS counts them.
pub const UNITS_PER_CORE: f64 = 1024.0;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Stats {
    cpu_stats: CpuStats,
    precpu_stats: CpuStats,
    memory_stats: MemoryStats,
    networks: Option<BTreeMap<String, Network>>,
    blkio_stats: Blkio,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CpuStats {
    cpu_usage: CpuUsage,
    system_cpu_usage: Option<u64>,
    online_cpus: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CpuUsage {
    total_usage: Option<u64>,
    percpu_usage: Option<Vec<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MemoryStats {
    usage: Option<u64>,
    stats: Option<BTreeMap<String, u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Network {
    rx_bytes: u64,
    tx_bytes: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Blkio {
    io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BlkioEntry {
    op: String,
    value: u64,
}

/// The CPU counters of one sample, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuCounters {
    /// CPU time the container used since it started.
    pub container_ns: u64,
    /// CPU time of the whole host (all cores) since it booted.
    pub system_ns: u64,
}

/// What one stats sample says, reduced to what metrics need.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub cpu: Option<CpuCounters>,
    /// The sample's own previous counters (`precpu_stats`), when the engine filled them.
    pub previous_cpu: Option<CpuCounters>,
    pub online_cpus: u32,
    /// Memory in use, without reclaimable page cache.
    pub memory_bytes: Option<u64>,
    /// Bytes received and sent since the container started; `None` without interfaces.
    pub network: Option<(u64, u64)>,
    /// Bytes read and written since the container started.
    pub storage: (u64, u64),
}

fn counters(stats: &CpuStats) -> Option<CpuCounters> {
    match (stats.cpu_usage.total_usage, stats.system_cpu_usage) {
        (Some(container_ns), Some(system_ns)) if system_ns > 0 => Some(CpuCounters {
            container_ns,
            system_ns,
        }),
        _ => None,
    }
}

/// Reads a stats sample. `None` when it holds no usage at all (a container that is not
/// running answers with empty stats, and so does the simulated runtime).
pub fn reading(stats: &serde_json::Value) -> Option<Reading> {
    let stats = Stats::deserialize(stats).ok()?;
    let cpu = counters(&stats.cpu_stats);
    let memory_bytes = stats
        .memory_stats
        .usage
        .map(|usage| memory_used(usage, &stats));
    if cpu.is_none() && memory_bytes.is_none() {
        return None;
    }
    let online_cpus = stats
        .cpu_stats
        .online_cpus
        .filter(|n| *n > 0)
        .or_else(|| {
            let cores = stats.cpu_stats.cpu_usage.percpu_usage.as_ref()?.len();
            u32::try_from(cores).ok().filter(|n| *n > 0)
        })
        .unwrap_or(1);
    let network = stats
        .networks
        .as_ref()
        .filter(|n| !n.is_empty())
        .map(|networks| {
            networks.values().fold((0u64, 0u64), |(rx, tx), n| {
                (rx.saturating_add(n.rx_bytes), tx.saturating_add(n.tx_bytes))
            })
        });
    let storage = stats
        .blkio_stats
        .io_service_bytes_recursive
        .iter()
        .flatten()
        .fold((0u64, 0u64), |(read, write), entry| {
            match entry.op.to_ascii_lowercase().as_str() {
                "read" => (read.saturating_add(entry.value), write),
                "write" => (read, write.saturating_add(entry.value)),
                _ => (read, write),
            }
        });
    Some(Reading {
        cpu,
        previous_cpu: counters(&stats.precpu_stats),
        online_cpus,
        memory_bytes,
        network,
        storage,
    })
}

/// The Docker CLI's memory figure: usage less the inactive page cache.
fn memory_used(usage: u64, stats: &Stats) -> u64 {
    let Some(detail) = &stats.memory_stats.stats else {
        return usage;
    };
    let reclaimable = detail
        .get("total_inactive_file")
        .or_else(|| detail.get("inactive_file"))
        .or_else(|| detail.get("cache"));
    match reclaimable {
        Some(&cache) if cache < usage => usage - cache,
        _ => usage,
    }
}

/// What a container used between two samples (or at the time of one, for memory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// CPU units (1024 per core), averaged over the interval.
    pub cpu_units: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub network_rx_bytes_per_second: Option<f64>,
    pub network_tx_bytes_per_second: Option<f64>,
    /// Bytes read and written during the interval.
    pub storage_read_bytes: Option<u64>,
    pub storage_write_bytes: Option<u64>,
}

/// CPU units used between two sets of counters.
pub fn cpu_units(before: CpuCounters, after: CpuCounters, online_cpus: u32) -> Option<f64> {
    let system = after.system_ns.checked_sub(before.system_ns)?;
    // A container restarted in between starts its counter again: no figure for this interval.
    let container = after.container_ns.checked_sub(before.container_ns)?;
    if system == 0 {
        return None;
    }
    Some(container as f64 / system as f64 * f64::from(online_cpus.max(1)) * UNITS_PER_CORE)
}

/// What a container used between `previous` (its sample `elapsed_seconds` earlier, if any) and
/// `current`.
pub fn usage(previous: Option<&Reading>, current: &Reading, elapsed_seconds: f64) -> Usage {
    let before = previous
        .and_then(|p| p.cpu)
        .or(current.previous_cpu)
        .filter(|_| current.cpu.is_some());
    let cpu_units = match (before, current.cpu) {
        (Some(before), Some(after)) => cpu_units(before, after, current.online_cpus),
        _ => None,
    };
    let rate = |before: u64, after: u64| {
        (elapsed_seconds > 0.0)
            .then(|| after.checked_sub(before))
            .flatten()
            .map(|delta| delta as f64 / elapsed_seconds)
    };
    let network = previous.and_then(|p| p.network).zip(current.network);
    let storage = previous.map(|p| p.storage);
    Usage {
        cpu_units,
        memory_bytes: current.memory_bytes,
        network_rx_bytes_per_second: network.and_then(|((rx, _), (now, _))| rate(rx, now)),
        network_tx_bytes_per_second: network.and_then(|((_, tx), (_, now))| rate(tx, now)),
        storage_read_bytes: storage.and_then(|(read, _)| current.storage.0.checked_sub(read)),
        storage_write_bytes: storage.and_then(|(_, write)| current.storage.1.checked_sub(write)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A one-shot sample as Docker 20.10 on cgroup v1 returns it (trimmed).
    fn sample(total: u64, system: u64, rx: u64, read: u64) -> serde_json::Value {
        json!({
            "read": "2026-12-06T05:00:00.000000000Z",
            "preread": "0001-01-01T00:00:00Z",
            "cpu_stats": {"cpu_usage": {"total_usage": total, "percpu_usage": [1, 2],
                                        "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                          "system_cpu_usage": system, "online_cpus": 2, "throttling_data": {}},
            "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                           "usage_in_usermode": 0}, "throttling_data": {}},
            "memory_stats": {"usage": 50_000_000u64, "limit": 134_217_728u64,
                             "stats": {"total_inactive_file": 8_000_000u64, "cache": 10_000_000u64}},
            "networks": {"eth0": {"rx_bytes": rx, "tx_bytes": 2 * rx}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": read},
                {"major": 8, "minor": 0, "op": "Write", "value": 4096},
                {"major": 8, "minor": 0, "op": "Total", "value": read + 4096}]}
        })
    }

    #[test]
    fn one_shot_samples_need_the_previous_one_for_cpu() {
        let first = reading(&sample(1_000_000_000, 100_000_000_000, 1000, 0)).unwrap();
        assert_eq!(
            first.cpu,
            Some(CpuCounters {
                container_ns: 1_000_000_000,
                system_ns: 100_000_000_000
            })
        );
        assert_eq!(first.previous_cpu, None, "one-shot: precpu_stats is empty");
        assert_eq!(first.online_cpus, 2);
        assert_eq!(first.memory_bytes, Some(42_000_000));
        assert_eq!(first.network, Some((1000, 2000)));
        assert_eq!(first.storage, (0, 4096));
        let alone = usage(None, &first, 0.0);
        assert_eq!(alone.cpu_units, None);
        assert_eq!(alone.memory_bytes, Some(42_000_000));
        assert_eq!(alone.network_rx_bytes_per_second, None);

        // 2 s later on 2 cores: the host's counter moved 4 s, the container's 1 s, so it
        // used a quarter of the host: half a core, 512 units.
        let second = reading(&sample(2_000_000_000, 104_000_000_000, 5000, 8192)).unwrap();
        let used = usage(Some(&first), &second, 2.0);
        assert_eq!(used.cpu_units, Some(512.0));
        assert_eq!(used.network_rx_bytes_per_second, Some(2000.0));
        assert_eq!(used.network_tx_bytes_per_second, Some(4000.0));
        assert_eq!(used.storage_read_bytes, Some(8192));
        assert_eq!(used.storage_write_bytes, Some(0));
    }

    #[test]
    fn a_sample_with_precpu_stats_stands_alone() {
        let mut stats = sample(3_000_000_000, 110_000_000_000, 0, 0);
        stats["precpu_stats"] = json!({"cpu_usage": {"total_usage": 1_000_000_000u64},
                                       "system_cpu_usage": 106_000_000_000u64, "online_cpus": 2});
        let sample = reading(&stats).unwrap();
        // 2 s of 4 s of host time on 2 cores: one core, 1024 units.
        assert_eq!(usage(None, &sample, 1.0).cpu_units, Some(1024.0));
    }

    #[test]
    fn memory_follows_the_docker_cli() {
        let memory = |stats: serde_json::Value| {
            reading(&json!({"memory_stats": {"usage": 1000, "stats": stats}}))
                .unwrap()
                .memory_bytes
        };
        assert_eq!(
            memory(json!({"total_inactive_file": 300, "cache": 400})),
            Some(700)
        );
        assert_eq!(
            memory(json!({"inactive_file": 200})),
            Some(800),
            "cgroup v2"
        );
        assert_eq!(memory(json!({"cache": 100})), Some(900), "old engines");
        assert_eq!(
            memory(json!({"inactive_file": 5000})),
            Some(1000),
            "never below zero"
        );
        assert_eq!(memory(json!({})), Some(1000));
    }

    #[test]
    fn empty_stats_read_as_nothing_and_restarts_give_no_cpu() {
        assert_eq!(reading(&json!({})), None);
        assert_eq!(reading(&json!({"cpu_stats": {}, "memory_stats": {}})), None);
        let host_mode = reading(&json!({"cpu_stats": {"cpu_usage": {"total_usage": 5},
                                                      "system_cpu_usage": 10}}))
        .unwrap();
        assert_eq!(host_mode.network, None);
        assert_eq!(host_mode.online_cpus, 1);
        let before = reading(&sample(9_000_000_000, 100_000_000_000, 0, 0)).unwrap();
        let restarted = reading(&sample(1_000_000, 102_000_000_000, 0, 0)).unwrap();
        assert_eq!(usage(Some(&before), &restarted, 1.0).cpu_units, None);
    }

    #[test]
    fn cpu_units_scale_with_the_cores_seen() {
        let before = CpuCounters {
            container_ns: 0,
            system_ns: 0,
        };
        let after = CpuCounters {
            container_ns: 1_000,
            system_ns: 8_000,
        };
        // An eighth of an 8-core host's time is one core.
        assert_eq!(cpu_units(before, after, 8), Some(1024.0));
        assert_eq!(cpu_units(after, after, 8), None, "no time passed");
    }
}
