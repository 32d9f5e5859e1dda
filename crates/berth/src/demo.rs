//! `berth demo image`: builds the local Docker image `berth-demo:latest` from the demo workload
//! embedded in this binary (see build.rs), through the Docker Engine API, with no registry.

use anyhow::{Context, bail};
use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, RemoveImageOptions};
use futures_util::StreamExt;

/// The image that tests and demo task definitions name.
pub const IMAGE: &str = "berth-demo:latest";

/// The statically linked workload, compiled from crates/berth-demo by build.rs.
static WORKLOAD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-demo"));

/// No shell, no libc: the static workload is the whole image.
const DOCKERFILE: &str = concat!(
    "FROM scratch\n",
    "LABEL org.opencontainers.image.title=\"berth-demo\" ",
    "org.opencontainers.image.description=\"The test/demo workload built into berth\" ",
    "org.opencontainers.image.version=\"",
    env!("CARGO_PKG_VERSION"),
    "\" io.berth.demo=\"true\"\n",
    "COPY berth-demo /berth-demo\n",
    "EXPOSE 8080\n",
    "ENTRYPOINT [\"/berth-demo\"]\n",
    "CMD [\"serve\"]\n",
);

/// Builds (or rebuilds: identical inputs hit the build cache) `berth-demo:latest` on the Docker
/// Engine that DOCKER_HOST names, or the local socket; returns the image ID.
pub async fn build_image() -> anyhow::Result<String> {
    let docker = Docker::connect_with_defaults().context("connecting to the Docker Engine")?;
    let previous = docker
        .inspect_image(IMAGE)
        .await
        .ok()
        .and_then(|image| image.id);
    let id = build(&docker).await?;
    if let Some(previous) = previous.filter(|previous| *previous != id) {
        // A new workload leaves the old image untagged; drop it unless a container still uses it
        // (then the engine refuses, and it stays, which is fine).
        if let Err(err) = docker
            .remove_image(&previous, None::<RemoveImageOptions>, None)
            .await
        {
            tracing::debug!(image = %previous, error = %err, "keeping the previous demo image");
        }
    }
    Ok(id)
}

async fn build(docker: &Docker) -> anyhow::Result<String> {
    let context = build_context().context("packing the build context")?;
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(IMAGE)
        .rm(true)
        .forcerm(true)
        .build();
    let mut output = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut image_id = None;
    while let Some(item) = output.next().await {
        // bollard turns an `errorDetail` in the stream into Err; the match below covers a daemon
        // that sends only the message.
        let info = item.with_context(|| {
            format!("building {IMAGE} through the Docker Engine API (is Docker running?)")
        })?;
        if let Some(detail) = info.error_detail {
            bail!(
                "building {IMAGE}: {}",
                detail.message.unwrap_or_else(|| "unknown error".into())
            );
        }
        if let Some(line) = info.stream {
            let line = line.trim_end();
            if !line.is_empty() {
                tracing::debug!(target: "berth::demo::build", "{line}");
            }
        }
        if let Some(id) = info.aux.and_then(|aux| aux.id) {
            image_id = Some(id);
        }
    }
    match image_id {
        Some(id) => Ok(id),
        // Older engines report the result only as a "Successfully built" line: ask for the ID.
        None => {
            let image = docker
                .inspect_image(IMAGE)
                .await
                .with_context(|| format!("inspecting {IMAGE} after building it"))?;
            image
                .id
                .with_context(|| format!("the engine reports no ID for {IMAGE}"))
        }
    }
}

/// An uncompressed tar of the Dockerfile and the workload, with fixed owners and times so that
/// the same workload always produces the same context (and reuses the build cache).
fn build_context() -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for (path, mode, contents) in [
        ("Dockerfile", 0o644, DOCKERFILE.as_bytes()),
        ("berth-demo", 0o755, WORKLOAD),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, path, contents)?;
    }
    archive.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn context_holds_an_executable_workload_and_the_dockerfile() {
        let context = build_context().unwrap();
        let mut archive = tar::Archive::new(context.as_slice());
        let mut found = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = entry.header().mode().unwrap();
            let mut contents = Vec::new();
            entry.read_to_end(&mut contents).unwrap();
            found.push((path, mode, contents));
        }
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].0.as_str(), found[0].1), ("Dockerfile", 0o644));
        let dockerfile = String::from_utf8(found[0].2.clone()).unwrap();
        assert!(dockerfile.starts_with("FROM scratch\n"));
        assert!(dockerfile.contains("ENTRYPOINT [\"/berth-demo\"]\nCMD [\"serve\"]\n"));
        assert_eq!((found[1].0.as_str(), found[1].1), ("berth-demo", 0o755));
        assert!(found[1].2.starts_with(b"\x7fELF"));
        assert_eq!(found[1].2.len(), WORKLOAD.len());
    }
}
