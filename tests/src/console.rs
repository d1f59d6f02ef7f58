//! An operator's console session over HTTP: the session cookie and the CSRF token, as the
//! console page keeps them.

use anyhow::Context;
use gymgate_shared::api::{ConsoleLogin, ConsoleSession};
use reqwest::{Method, StatusCode};

pub struct ConsoleClient {
    pub url: String,
    pub cookie: String,
    pub session: ConsoleSession,
    http: reqwest::Client,
}

/// What a request got back.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl ConsoleClient {
    /// Logs in; fails unless the server answered 200 with a session cookie.
    pub async fn login(url: &str, username: &str, password: &str) -> anyhow::Result<ConsoleClient> {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{url}/api/v1/console/login"))
            .json(&ConsoleLogin {
                username: username.into(),
                password: password.into(),
            })
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "login failed: {} {}",
            response.status(),
            response.text().await?
        );
        let set_cookie = response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .context("no session cookie")?
            .to_str()?
            .to_owned();
        anyhow::ensure!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
            "the session cookie must be HttpOnly and SameSite=Strict: {set_cookie}"
        );
        let cookie = set_cookie
            .split(';')
            .next()
            .context("empty cookie")?
            .to_owned();
        let session: ConsoleSession = response.json().await?;
        Ok(ConsoleClient {
            url: url.to_owned(),
            cookie,
            session,
            http,
        })
    }

    /// A request with the session cookie, and the CSRF token when `csrf`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        csrf: bool,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header(reqwest::header::COOKIE, &self.cookie);
        if csrf {
            request = request.header("x-csrf-token", &self.session.csrf_token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok(Answer { status, body })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.call(Method::GET, path, None, false).await
    }

    /// A change, as the console page sends it (with the CSRF token).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<Answer> {
        self.call(method, path, Some(body), true).await
    }
}
