//! TEMP stub until the web-config branch lands.
use std::collections::BTreeMap;
pub struct BasicAuth {
    users: BTreeMap<String, String>,
}
impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> Self {
        BasicAuth { users }
    }
    pub async fn verify(&self, authorization: Option<&[u8]>) -> bool {
        authorization.is_some() && !self.users.is_empty()
    }
}
