//! TEMP stub until the web-config branch lands.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub basic_auth_users: BTreeMap<String, String>,
    pub headers: Vec<(String, String)>,
}
pub fn load(path: &Path) -> Result<WebConfig, super::ConfigError> {
    Err(super::ConfigError::Io {
        file: path.to_path_buf(),
        reason: "stub".into(),
    })
}
