//! The API client: blocking HTTP/1.1 with keep-alive (one connection, reused, as a
//! provisioning script would), the bearer token on every call, and problem+json errors
//! turned into readable messages so a failed run says why.

use serde_json::Value;
use std::time::Duration;
use ureq::Agent;

/// Largest answer read: a bulk answer with 10,000 server-generated keys and configs is
/// about 10 MB, ureq's default limit.
const MAX_ANSWER: u64 = 256 << 20;

#[derive(Debug)]
pub struct Client {
    agent: Agent,
    base: String,
    auth: String,
}

/// The message for an unexpected answer: the problem's `code` and `detail` if it is one.
fn unexpected(what: &str, status: u16, body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(p) if p.get("code").is_some() => {
            format!("{what}: {status} {}: {}", p["code"], p["detail"])
        }
        _ => format!(
            "{what}: {status}: {}",
            body.chars().take(500).collect::<String>()
        ),
    }
}

impl Client {
    pub fn new(base: String, token: &str) -> Self {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            // Generous: a bulk request of 10,000 peers takes seconds, and a benchmark that
            // hangs must still end.
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Self {
            agent,
            base,
            auth: format!("Bearer {token}"),
        }
    }

    /// GET without a token (health): the status, or an error if nothing answers.
    pub fn probe(&self, path: &str) -> Result<u16, String> {
        self.agent
            .get(format!("{}{path}", self.base))
            .call()
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }

    /// GET `url` (anywhere, no token) expecting `200 OK`: the body as text.
    pub fn text(&self, url: &str) -> Result<String, String> {
        let what = format!("GET {url}");
        let (status, text) = Self::body(&what, self.agent.get(url).call())?;
        if status != 200 {
            return Err(format!("{what}: {status}: {text}"));
        }
        Ok(text)
    }

    pub fn get(&self, path: &str) -> Result<Value, String> {
        let answer = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .call();
        Self::read(&format!("GET {path}"), answer, 200)
    }

    /// POSTs `body` (JSON text, built before the clock starts) and expects `201 Created`.
    pub fn create(&self, path: &str, body: &str) -> Result<Value, String> {
        let answer = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/json")
            .send(body);
        Self::read(&format!("POST {path}"), answer, 201)
    }

    /// The answer's status and body.
    fn body(
        what: &str,
        answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String), String> {
        let mut response = answer.map_err(|e| format!("{what}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| format!("{what}: reading the answer: {e}"))?;
        Ok((status, text))
    }

    fn read(
        what: &str,
        answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        expected: u16,
    ) -> Result<Value, String> {
        let (status, text) = Self::body(what, answer)?;
        if status != expected {
            return Err(unexpected(what, status, &text));
        }
        serde_json::from_str(&text).map_err(|e| format!("{what}: the answer is not JSON: {e}"))
    }
}
