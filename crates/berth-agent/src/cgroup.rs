//! A cgroup per task, so that task-level `cpu` and `memory` limit the task as a whole, as ECS
//! does on EC2: the agent creates `/berth/TASKID` with the limits and Docker places each of the
//! task's containers beneath it (`--cgroup-parent`). Needs Docker's `cgroupfs` driver; with
//! another driver the per-container caps at the task's size (see `docker.rs`) are what remains.

use std::io;
use std::path::{Path, PathBuf};

/// Where the host's cgroup hierarchies are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup parent the task's containers are created under.
pub fn parent(task_id: &str) -> String {
    format!("/berth/{task_id}")
}

/// The period CPU quotas are expressed in (the kernel's default), in microseconds.
const CPU_PERIOD_US: i64 = 100_000;

fn quota_us(cpu_units: i64) -> i64 {
    (cpu_units * CPU_PERIOD_US / 1024).max(1000)
}

/// Creates the task's cgroup with its limits under `root`; returns the parent to give Docker.
pub fn create(
    root: &Path,
    task_id: &str,
    cpu_units: Option<i64>,
    memory_mib: Option<i64>,
) -> io::Result<String> {
    if root.join("cgroup.controllers").exists() {
        create_v2(root, task_id, cpu_units, memory_mib)?;
    } else {
        if let Some(memory) = memory_mib {
            let dir = v1_dir(root, "memory", task_id);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(
                dir.join("memory.limit_in_bytes"),
                (memory << 20).to_string(),
            )?;
        }
        if let Some(cpu) = cpu_units {
            let dir = v1_dir(root, "cpu", task_id);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string())?;
            std::fs::write(dir.join("cpu.cfs_quota_us"), quota_us(cpu).to_string())?;
        }
    }
    Ok(parent(task_id))
}

fn v1_dir(root: &Path, subsystem: &str, task_id: &str) -> PathBuf {
    root.join(subsystem).join("berth").join(task_id)
}

fn create_v2(
    root: &Path,
    task_id: &str,
    cpu_units: Option<i64>,
    memory_mib: Option<i64>,
) -> io::Result<()> {
    let berth = root.join("berth");
    std::fs::create_dir_all(&berth)?;
    // Controllers must be enabled on every level above the group that uses them.
    std::fs::write(root.join("cgroup.subtree_control"), "+memory +cpu")?;
    std::fs::write(berth.join("cgroup.subtree_control"), "+memory +cpu")?;
    let dir = berth.join(task_id);
    std::fs::create_dir_all(&dir)?;
    if let Some(memory) = memory_mib {
        std::fs::write(dir.join("memory.max"), (memory << 20).to_string())?;
    }
    if let Some(cpu) = cpu_units {
        std::fs::write(
            dir.join("cpu.max"),
            format!("{} {CPU_PERIOD_US}", quota_us(cpu)),
        )?;
    }
    Ok(())
}

/// Removes the task's cgroups (in every hierarchy) once its containers are gone. Best effort: a
/// group still in use stays, and is harmless.
pub fn remove(root: &Path, task_id: &str) {
    let mut groups = vec![root.join("berth").join(task_id)];
    if let Ok(hierarchies) = std::fs::read_dir(root) {
        groups.extend(
            hierarchies
                .flatten()
                .map(|h| h.path().join("berth").join(task_id)),
        );
    }
    for group in groups.into_iter().filter(|g| g.is_dir()) {
        // Docker leaves one empty child group per container; they must go first.
        if let Ok(children) = std::fs::read_dir(&group) {
            for child in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(child.path());
            }
        }
        let _ = std::fs::remove_dir(&group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_v1_limits_for_the_task() {
        let root = tempfile::tempdir().unwrap();
        for subsystem in ["memory", "cpu"] {
            std::fs::create_dir(root.path().join(subsystem)).unwrap();
        }
        assert_eq!(
            create(root.path(), "abc", Some(512), Some(64)).unwrap(),
            "/berth/abc"
        );
        let read = |path: &str| std::fs::read_to_string(root.path().join(path)).unwrap();
        assert_eq!(read("memory/berth/abc/memory.limit_in_bytes"), "67108864");
        assert_eq!(read("cpu/berth/abc/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu/berth/abc/cpu.cfs_period_us"), "100000");
        // On cgroupfs the control files vanish with their group; here they are plain files.
        for file in [
            "memory/berth/abc/memory.limit_in_bytes",
            "cpu/berth/abc/cpu.cfs_quota_us",
            "cpu/berth/abc/cpu.cfs_period_us",
        ] {
            std::fs::remove_file(root.path().join(file)).unwrap();
        }
        std::fs::create_dir(root.path().join("memory/berth/abc/container-1")).unwrap();
        remove(root.path(), "abc");
        assert!(!root.path().join("memory/berth/abc").exists());
        assert!(!root.path().join("cpu/berth/abc").exists());
    }

    #[test]
    fn writes_v2_limits_for_the_task() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory").unwrap();
        create(root.path(), "t1", Some(2048), Some(128)).unwrap();
        let read = |path: &str| std::fs::read_to_string(root.path().join(path)).unwrap();
        assert_eq!(read("berth/t1/memory.max"), "134217728");
        assert_eq!(read("berth/t1/cpu.max"), "200000 100000");
    }
}
