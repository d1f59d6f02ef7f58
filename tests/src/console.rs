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
        Self::login_with(url, username, password, None).await
    }

    /// [`ConsoleClient::login`] with the second factor's code (or a recovery code).
    pub async fn login_with(
        url: &str,
        username: &str,
        password: &str,
        second: Option<SecondFactor>,
    ) -> anyhow::Result<ConsoleClient> {
        let http = reqwest::Client::new();
        let (totp, recovery_code) = match second {
            None => (None, None),
            Some(SecondFactor::Code(code)) => (Some(code), None),
            Some(SecondFactor::Recovery(code)) => (None, Some(code)),
        };
        let response = http
            .post(format!("{url}/api/v1/console/login"))
            .json(&ConsoleLogin {
                username: username.into(),
                password: password.into(),
                totp,
                recovery_code,
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

    /// Sets up and confirms a second factor for this account (this session then acts as an
    /// admin may); returns the secret and the recovery codes.
    pub async fn add_second_factor(&self) -> anyhow::Result<(String, Vec<String>)> {
        let setup = self
            .call(Method::POST, "/api/v1/console/totp/setup", None, true)
            .await?;
        anyhow::ensure!(setup.status == StatusCode::OK, "setup: {setup:?}");
        let secret = setup.body["secret"]
            .as_str()
            .context("no secret")?
            .to_owned();
        let confirm = self
            .send(
                Method::POST,
                "/api/v1/console/totp/confirm",
                serde_json::json!({ "code": totp_now(&secret)? }),
            )
            .await?;
        anyhow::ensure!(confirm.status == StatusCode::OK, "confirm: {confirm:?}");
        let codes = confirm.body["codes"]
            .as_array()
            .context("no recovery codes")?
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        Ok((secret, codes))
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

/// What a login gives besides the password.
pub enum SecondFactor {
    Code(String),
    Recovery(String),
}

/// The authenticator app's code for `secret` now.
pub fn totp_now(secret: &str) -> anyhow::Result<String> {
    totp_at(secret, chrono::Utc::now().timestamp().max(0) as u64)
}

/// The authenticator app's code for `secret` at `unix_seconds`.
pub fn totp_at(secret: &str, unix_seconds: u64) -> anyhow::Result<String> {
    let secret = totp_rs::Secret::try_from_base32(secret)
        .map_err(|e| anyhow::anyhow!("bad secret: {e:?}"))?;
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|e| anyhow::anyhow!("bad totp: {e:?}"))?;
    Ok(totp.generate(unix_seconds).to_string())
}
