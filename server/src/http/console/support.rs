//! The support contact members and staff see.

use axum::Json;
use axum::extract::State;
use gymgate_shared::api::SupportContact;
use gymgate_shared::protocol::EventPayload;

use crate::error::AppError;
use crate::extract::{ApiJson, AsAdmin, AsViewer};
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::centers;
use crate::store::settings;

/// Public: the member app shows it (and keeps it for when the server cannot be reached).
pub(super) async fn support_contact(
    State(state): State<AppState>,
) -> Result<Json<SupportContact>, AppError> {
    Ok(Json(
        state
            .store
            .read(settings::support)
            .await?
            .unwrap_or_default(),
    ))
}

/// The same contact for the console: behind a login like every `/api/v1/admin` route.
pub(super) async fn support_for_operators(
    state: State<AppState>,
    _: AsViewer,
) -> Result<Json<SupportContact>, AppError> {
    support_contact(state).await
}

pub(super) async fn set_support(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    ApiJson(contact): ApiJson<SupportContact>,
) -> Result<Json<SupportContact>, AppError> {
    let contact = SupportContact {
        phone: contact.phone.trim().chars().take(40).collect(),
        chat_url: contact.chat_url.trim().chars().take(300).collect(),
        hours: contact.hours.trim().chars().take(100).collect(),
    };
    if !contact.chat_url.is_empty() && !contact.chat_url.starts_with("https://") {
        return Err(AppError::bad_request(
            "invalid_chat_url",
            "채팅 링크는 https:// 로 시작해야 합니다 / the chat link must start with https://",
        ));
    }
    if !contact
        .phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '+' | '(' | ')'))
    {
        return Err(AppError::bad_request(
            "invalid_phone",
            "전화번호에는 숫자와 -만 씁니다 / the phone number holds digits and dashes",
        ));
    }
    let stored = contact.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let before = settings::support(ctx.tx)?;
            settings::put_support(ctx.tx, &stored)?;
            // Every desk hears it now (or when it resumes).
            let payload = EventPayload::Support(stored.clone());
            for center in centers::ids(ctx.tx)? {
                ctx.append_event(&center, &payload)?;
            }
            ctx.audit(
                &actor.name,
                "support.set",
                &Subject::default(),
                before.map(serde_json::to_value).transpose()?.as_ref(),
                Some(&serde_json::to_value(&stored)?),
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(contact))
}
