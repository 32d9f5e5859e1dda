//! Root credentials: from `BERTH_ROOT_ACCESS_KEY_ID` / `BERTH_ROOT_SECRET_ACCESS_KEY` when set,
//! otherwise generated once and kept, mode 0600, in `DATA_DIR/credentials` in the AWS shared
//! credentials file format (so `AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/credentials aws …` works).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use berth_protocol::sigv4::Credentials;
use rand::Rng;
use rand::distr::Alphanumeric;

pub fn ensure_root_credentials(data_dir: &Path) -> anyhow::Result<()> {
    if std::env::var_os("BERTH_ROOT_ACCESS_KEY_ID").is_some()
        && std::env::var_os("BERTH_ROOT_SECRET_ACCESS_KEY").is_some()
    {
        return Ok(());
    }
    let path = data_dir.join("credentials");
    if path.exists() {
        return Ok(());
    }
    let mut rng = rand::rng();
    let key_id: String = (0..16)
        .map(|_| rng.sample(Alphanumeric).to_ascii_uppercase() as char)
        .collect();
    let secret: String = (0..40).map(|_| rng.sample(Alphanumeric) as char).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(
        file,
        "[default]\naws_access_key_id = AKIA{key_id}\naws_secret_access_key = {secret}"
    )?;
    tracing::info!(path = %path.display(), "generated root credentials");
    Ok(())
}

/// The account's root credentials: the environment's when set, else the generated file's.
pub fn root_credentials(data_dir: &Path) -> anyhow::Result<Credentials> {
    if let (Ok(access_key_id), Ok(secret_access_key)) = (
        std::env::var("BERTH_ROOT_ACCESS_KEY_ID"),
        std::env::var("BERTH_ROOT_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Credentials {
            access_key_id,
            secret_access_key,
        });
    }
    let path = data_dir.join("credentials");
    read_profile(&path, "default")?
        .with_context(|| format!("no [default] credentials in {}", path.display()))
}

/// The credentials an agent signs with, found as AWS clients find theirs: the
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` variables, else the shared credentials file
/// (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`), profile `AWS_PROFILE` or
/// `default`.
pub fn client_credentials() -> anyhow::Result<Credentials> {
    if let (Ok(access_key_id), Ok(secret_access_key)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Credentials {
            access_key_id,
            secret_access_key,
        });
    }
    let path = match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".aws/credentials"),
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    read_profile(&path, &profile)?.with_context(|| {
        format!(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_SHARED_CREDENTIALS_FILE \
             (berth writes DATA_DIR/credentials), profile {profile} in {}",
            path.display()
        )
    })
}

/// Reads one profile of an AWS shared credentials file; `None` when the file or the profile is
/// missing.
fn read_profile(path: &Path, profile: &str) -> anyhow::Result<Option<Credentials>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let mut in_profile = false;
    let (mut key_id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == profile;
        } else if in_profile && let Some((name, value)) = line.split_once('=') {
            match name.trim() {
                "aws_access_key_id" => key_id = Some(value.trim().to_string()),
                "aws_secret_access_key" => secret = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    Ok(key_id
        .zip(secret)
        .map(|(access_key_id, secret_access_key)| Credentials {
            access_key_id,
            secret_access_key,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_profile_of_a_shared_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(
            &path,
            "[other]\naws_access_key_id = A\naws_secret_access_key = B\n\n[default]\naws_access_key_id=AKIAX\naws_secret_access_key = s3cr/t\n",
        )
        .unwrap();
        let found = read_profile(&path, "default").unwrap().unwrap();
        assert_eq!(
            (
                found.access_key_id.as_str(),
                found.secret_access_key.as_str()
            ),
            ("AKIAX", "s3cr/t")
        );
        assert_eq!(
            read_profile(&path, "other").unwrap().unwrap().access_key_id,
            "A"
        );
        assert!(read_profile(&path, "missing").unwrap().is_none());
        assert!(
            read_profile(&dir.path().join("none"), "default")
                .unwrap()
                .is_none()
        );
    }
}
