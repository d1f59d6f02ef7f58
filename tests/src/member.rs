//! A member's phone, as far as the HTTP API goes.

use anyhow::Context;
use gymgate_shared::api::{CheckinEnvelope, ErrorBody, MemberLogin, MemberSession};
use reqwest::StatusCode;

pub struct MemberClient {
    pub url: String,
    pub token: String,
    pub session: MemberSession,
    http: reqwest::Client,
}

/// What a tap got back: the status and either the check-in or the error body.
#[derive(Debug)]
pub enum TapAnswer {
    Checkin(StatusCode, CheckinEnvelope),
    Error(StatusCode, ErrorBody),
}

impl TapAnswer {
    pub fn status(&self) -> StatusCode {
        match self {
            TapAnswer::Checkin(s, _) | TapAnswer::Error(s, _) => *s,
        }
    }

    pub fn checkin(&self) -> anyhow::Result<&gymgate_shared::api::Checkin> {
        match self {
            TapAnswer::Checkin(_, e) => Ok(&e.checkin),
            TapAnswer::Error(s, e) => anyhow::bail!("tap refused: {s} {e:?}"),
        }
    }

    pub fn error_code(&self) -> Option<&str> {
        match self {
            TapAnswer::Error(_, e) => Some(&e.error.code),
            TapAnswer::Checkin(..) => None,
        }
    }
}

impl MemberClient {
    pub async fn login(url: &str, member_no: &str, pin: &str) -> anyhow::Result<MemberClient> {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{url}/api/v1/auth/member"))
            .json(&MemberLogin {
                member_no: member_no.into(),
                pin: pin.into(),
            })
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "login failed: {}",
            response.text().await?
        );
        let session: MemberSession = response.json().await?;
        Ok(MemberClient {
            url: url.to_owned(),
            token: session.token.clone(),
            session,
            http,
        })
    }

    /// The same session sent to another address (another node behind a proxy).
    pub fn on(&self, url: &str) -> MemberClient {
        MemberClient {
            url: url.to_owned(),
            token: self.token.clone(),
            session: self.session.clone(),
            http: self.http.clone(),
        }
    }

    /// Taps Enter. A request lost in transport before any answer is sent once more with the
    /// same Idempotency-Key, as the app does: right after a server was SIGKILLed and came
    /// back, the connection pool may still hand out the dead server's connection, which
    /// answers with a reset (seen once in `two_thousand_desks_resume_after_a_server_sigkill`).
    pub async fn tap(&self, center_id: &str, key: &str) -> anyhow::Result<TapAnswer> {
        self.tap_with(center_id, key, None).await
    }

    /// [`MemberClient::tap`] carrying the desk's presence code the phone scanned.
    pub async fn tap_with(
        &self,
        center_id: &str,
        key: &str,
        presence: Option<&str>,
    ) -> anyhow::Result<TapAnswer> {
        let body = match presence {
            Some(code) => serde_json::json!({ "center_id": center_id, "presence": code }),
            None => serde_json::json!({ "center_id": center_id }),
        };
        let send = || {
            self.http
                .post(format!("{}/api/v1/checkins", self.url))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
        };
        let response = match send().await {
            Err(error) if error.is_request() && !error.is_timeout() => send().await?,
            other => other?,
        };
        answer(response).await
    }

    pub async fn checkin(&self, id: &str) -> anyhow::Result<TapAnswer> {
        let response = self
            .http
            .get(format!("{}/api/v1/checkins/{id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?;
        answer(response).await
    }
}

async fn answer(response: reqwest::Response) -> anyhow::Result<TapAnswer> {
    let status = response.status();
    let text = response.text().await?;
    Ok(if status.is_success() {
        TapAnswer::Checkin(status, serde_json::from_str(&text).context(text)?)
    } else {
        TapAnswer::Error(status, serde_json::from_str(&text).context(text)?)
    })
}

/// Each member number logged in with the test [`crate::PIN`], in order.
pub async fn logins(url: &str, numbers: &[String]) -> anyhow::Result<Vec<MemberClient>> {
    let mut out = Vec::new();
    for no in numbers {
        out.push(MemberClient::login(url, no, crate::PIN).await?);
    }
    Ok(out)
}
