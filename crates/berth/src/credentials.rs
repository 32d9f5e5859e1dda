//! Root credentials: from `BERTH_ROOT_ACCESS_KEY_ID` / `BERTH_ROOT_SECRET_ACCESS_KEY` when set,
//! otherwise generated once and kept, mode 0600, in `DATA_DIR/credentials` in the AWS shared
//! credentials file format (so `AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/credentials aws …` works).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
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
